//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testInvalidManifests: kubectl apply refuses invalid RaftClusters with a
// message naming the field and the rule, and nothing is created.
func testInvalidManifests(t *testing.T) {
	s := env
	sc := s.newScenario(t, "invalid")
	base := func(spec string) string {
		return fmt.Sprintf("apiVersion: raft.kuberaft.io/v1alpha1\nkind: RaftCluster\nmetadata:\n  name: bad\n  namespace: %s\nspec:\n%s", sc.ns, spec)
	}
	const storage = "  storage:\n    size: 64Mi\n"
	cases := []struct {
		name string
		spec string
		want []string // every one must appear in kubectl's message
	}{
		{"zero replicas", "  replicas: 0\n  version: v1\n" + storage, []string{"spec.replicas", "greater than or equal to 1"}},
		{"too many replicas", "  replicas: 10\n  version: v1\n" + storage, []string{"spec.replicas", "less than or equal to 9"}},
		{"replicas not a number", "  replicas: three\n  version: v1\n" + storage, []string{"spec.replicas"}},
		{"unknown field", "  replcas: 3\n  version: v1\n" + storage, []string{`unknown field "spec.replcas"`}},
		{"no storage", "  replicas: 3\n  version: v1\n", []string{"spec.storage", "Required value"}},
		{"neither version nor image", "  replicas: 3\n" + storage, []string{"one of spec.version or spec.image must be set"}},
		{"zero storage size", "  replicas: 3\n  version: v1\n  storage:\n    size: \"0\"\n", []string{"storage.size must be greater than zero"}},
		{"bad version tag", "  replicas: 3\n  version: \"v 1\"\n" + storage, []string{"spec.version"}},
		{"election timeout below 5 heartbeats", "  replicas: 3\n  version: v1\n" + storage + "  raft:\n    heartbeatInterval: 100\n    electionTimeout: 200\n",
			[]string{"raft.electionTimeout must be at least 5 times raft.heartbeatInterval"}},
		{"reserved pod label", "  replicas: 3\n  version: v1\n" + storage + "  podTemplate:\n    labels:\n      raft.kuberaft.io/role: leader\n",
			[]string{"podTemplate.labels must not use the reserved keys"}},
	}
	refused := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := s.kubectlRun(ctx, base(tc.spec), "apply", "-f", "-")
			if err == nil {
				t.Fatalf("kubectl apply accepted an invalid RaftCluster:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl's message does not mention %q:\n%s", w, out)
				}
			}
			t.Logf("refused: %s", strings.TrimSpace(out))
			refused++
		})
	}
	if got := strings.TrimSpace(s.mustKubectl(t, "", "-n", sc.ns, "get", "raftcluster", "-o", "name")); got != "" {
		t.Errorf("refused manifests left objects behind: %s", got)
	}

	// storage is immutable: a valid, paused cluster cannot change it.
	valid := base("  replicas: 1\n  version: " + s.tagA + "\n  paused: true\n" + storage)
	s.mustKubectl(t, valid, "apply", "-f", "-")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.kubectlRun(ctx, strings.Replace(valid, "64Mi", "128Mi", 1), "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "storage is immutable") {
		t.Errorf("changing spec.storage: err=%v, want a refusal saying %q:\n%s", err, "storage is immutable", out)
	} else {
		refused++
	}
	sc.figure("%d invalid manifests refused with a clear message", refused)
}
