package controllers

import (
	"os"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestRoleCoversWhatTheOperatorWrites: the generated ClusterRole
// (config/rbac/role.yaml, from the +kubebuilder:rbac markers) must grant
// every write the reconcilers make. Trimming verbs once removed the patch
// that clears a handled request annotation (requests.go), and the operator
// retried a satisfied move-leader request for ever.
func TestRoleCoversWhatTheOperatorWrites(t *testing.T) {
	raw, err := os.ReadFile("../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	for _, need := range []struct{ group, resource, verb string }{
		{"raft.kuberaft.io", "raftclusters", "patch"},        // requests.go: clear a handled request annotation
		{"raft.kuberaft.io", "raftclusters/status", "patch"}, // status.Patch
		{"", "pods", "patch"},                                // role labels
		{"", "pods", "delete"},                               // restarts, replacements
		{"", "persistentvolumeclaims", "delete"},             // scale-in, Delete reclaim
		{"", "secrets", "create"},                            // managed certificates
		{"raft.kuberaft.io", "raftbackups", "create"},        // scheduled backups
		{"raft.kuberaft.io", "raftbackups/status", "patch"},  // backup status
	} {
		if !grants(role.Rules, need.group, need.resource, need.verb) {
			t.Errorf("config/rbac/role.yaml does not grant %s on %s.%s", need.verb, need.resource, need.group)
		}
	}
}

func grants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}
