package controllers_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kuberaft/kuberaft/api/v1alpha1"
)

var restartRE = regexp.MustCompile(`restarting follower (kv-\d)|moving leadership from (kv-\d) to upgraded (kv-\d)`)

// restartOrder extracts the upgrade steps from the trace: "delete kv-2",
// "move kv-1->kv-2".
func restartOrder(trace []string) []string {
	var out []string
	for _, l := range trace {
		if !strings.HasPrefix(l, "Normal") {
			continue
		}
		m := restartRE.FindStringSubmatch(l)
		switch {
		case m == nil:
		case m[1] != "":
			out = append(out, "delete "+m[1])
		default:
			out = append(out, "move "+m[2]+"->"+m[3])
		}
	}
	return out
}

func TestUpgradeOrderLeaderLast(t *testing.T) {
	for _, tc := range []struct {
		leader string
		want   []string
	}{
		{"kv-0", []string{"delete kv-2", "delete kv-1", "move kv-0->kv-1", "delete kv-0"}},
		{"kv-1", []string{"delete kv-2", "delete kv-0", "move kv-1->kv-0", "delete kv-1"}},
		{"kv-2", []string{"delete kv-1", "delete kv-0", "move kv-2->kv-0", "delete kv-2"}},
	} {
		t.Run("leader="+tc.leader, func(t *testing.T) {
			e := newConverged(t, 3)
			if !e.world.SetLeader(tc.leader) {
				t.Fatalf("cannot make %s the leader", tc.leader)
			}
			e.update(func(s *v1alpha1.RaftClusterSpec) { s.Version = "v2" })
			e.converge(40)
			for name, pod := range e.pods() {
				if img := pod.Spec.Containers[0].Image; img != "kuberaft.local/raftnode:v2" {
					t.Errorf("%s runs %s after the upgrade", name, img)
				}
			}
			if got := e.get().Status.CurrentVersion; got != "v2" {
				t.Errorf("currentVersion = %q, want v2", got)
			}
			if got := restartOrder(e.trace); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("upgrade order = %v, want %v", got, tc.want)
			}
			if len(e.world.VoterCounts) != 0 {
				t.Errorf("an upgrade changed the membership: %v", e.world.Calls)
			}
			golden(t, "upgrade-leader-"+tc.leader, e.actions())
		})
	}
}

func TestUpgradeWaitsForUpgradedMemberToBeHealthy(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-0")
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Version = "v2" })
	// kv-2 is restarted first; keep it unreachable after its restart.
	for i := 0; i < 10 && !strings.Contains(strings.Join(e.trace, "\n"), "restarting follower kv-2"); i++ {
		e.tick()
	}
	e.world.Unreachable["kv-2"] = true
	for range 8 {
		e.tick()
	}
	if got := restartOrder(e.trace); fmt.Sprint(got) != "[delete kv-2]" {
		t.Fatalf("restarted %v while the upgraded kv-2 was not healthy", got)
	}
	rc := e.get()
	if c := rc.Condition(v1alpha1.ConditionProgressing); c == nil || c.Reason != v1alpha1.ReasonWaitingUpgrade {
		t.Errorf("Progressing = %+v, want reason %s", c, v1alpha1.ReasonWaitingUpgrade)
	}
	delete(e.world.Unreachable, "kv-2")
	e.converge(30)
}

func TestUpgradeSmallClusters(t *testing.T) {
	for _, n := range []int32{1, 2} {
		t.Run(fmt.Sprintf("%d members", n), func(t *testing.T) {
			e := newConverged(t, n)
			e.update(func(s *v1alpha1.RaftClusterSpec) { s.Version = "v2" })
			e.converge(30)
			if got := e.get().Status.CurrentVersion; got != "v2" {
				t.Errorf("currentVersion = %q", got)
			}
		})
	}
}
