// Command kubeadm is upstream's kubeadm (k8s.io/kubernetes/cmd/kubeadm) at
// the Kubernetes version of hack/tools/k8s, for the kind node image
// (hack/kind/build-node-image.sh). It is its own module so that kubeadm's
// extra dependencies do not change hack/tools/k8s/go.sum, whose hash keys
// the multicall build everyone shares; go.mod is that module's, plus them.
package main

import (
	"k8s.io/kubernetes/cmd/kubeadm/app"
	utilerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
)

func main() {
	utilerrors.HandleError(app.Run())
}
