//go:build e2e

// Package e2e is the end-to-end suite: it runs against whatever cluster
// KUBECONFIG points at (`make e2e` brings up the offline local cluster when
// KUBECONFIG is unset), builds and loads our images, installs the operator
// with Helm (and once with `kubectl apply -k config/default`), creates
// RaftClusters with `kubectl apply` and checks the scenarios: create,
// invalid manifests, leader failover, member replacement, scale 3→5→3 under
// load, operator restart mid-scale, quorum-loss recovery (preview, then
// apply), and a rolling upgrade under load whose
// client history porcupine checks for linearizability.
//
// The test process talks to the nodes directly: the client Service's
// ClusterIP for etcd clients and each pod's IP for the node Status RPC. The
// offline local cluster routes both from the host; on kind, add routes to
// the pod and service CIDRs via the kind node (hack/e2e/kind-routes.sh).
//
// Each scenario has its own namespace. On failure a scenario dumps operator
// logs, events, pod descriptions and every node's /status to
// $E2E_ARTIFACTS/<scenario>/. The pure checks live in test/e2e/e2echeck.
//
// Dependency direction: test/e2e may import anything; nothing imports it.
package e2e
