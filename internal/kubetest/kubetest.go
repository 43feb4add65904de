// Package kubetest is the one way the project's tests start a real
// kube-apiserver and etcd (controller-runtime's envtest) with the project's
// CRDs, shared by every package whose tests need an API server. A missing
// KUBEBUILDER_ASSETS fails the run with how to get them, never skips it.
package kubetest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start and stop bounds are generous: the control plane starts on a loaded
// 2-core machine shared with other builds.
const (
	startTimeout = 90 * time.Second
	stopTimeout  = 30 * time.Second
)

// Main is a TestMain body: it starts the API server with the CRDs in
// crdDir, sets *k8s to a client of it that knows scheme, runs m and stops
// the server. It returns the exit code for os.Exit.
func Main(m *testing.M, crdDir string, scheme *runtime.Scheme, k8s *client.Client) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: these tests need kube-apiserver and etcd. "+
			"Run them through `make test-go` (which builds the assets with `make envtest-assets`) or export KUBEBUILDER_ASSETS.")
		return 1
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{crdDir},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "cannot stop envtest:", err)
		}
	}()
	if *k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
