// Package envtest tests the `kubectl raft` commands against a real API
// server (controller-runtime's envtest) with a fake member client. It needs
// KUBEBUILDER_ASSETS (make test-go sets it) and fails without it.
package envtest
