// Package envtest holds the tests that need a real kube-apiserver: CRD
// validation (markers and CEL), defaulting, the status and scale
// subresources, and the objects the controller creates. They need
// KUBEBUILDER_ASSETS (kube-apiserver, etcd); `make test-go` provides it.
// Without it they fail rather than skip.
package envtest
