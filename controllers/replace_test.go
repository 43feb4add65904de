package controllers_test

import (
	"strings"
	"testing"

	"github.com/kuberaft/kuberaft/api/v1alpha1"
)

func memberID(t *testing.T, e *env, name string) string {
	t.Helper()
	for _, m := range e.get().Status.Members {
		if m.Name == name {
			return m.ID
		}
	}
	t.Fatalf("no member %s in status", name)
	return ""
}

func TestReplaceMemberWhoseVolumeWasLost(t *testing.T) {
	for _, victim := range []string{"kv-0", "kv-1", "kv-2"} {
		t.Run(victim, func(t *testing.T) {
			e := newConverged(t, 3)
			e.world.SetLeader("kv-0")
			if victim == "kv-0" {
				e.world.SetLeader("kv-1")
			}
			before := memberID(t, e, victim)
			if err := e.world.LoseVolume(e.ctx, victim); err != nil {
				t.Fatal(err)
			}
			e.tick() // the pod comes back on an empty volume and is fenced
			if c := e.get().Condition(v1alpha1.ConditionDegraded); c == nil || c.Status != "True" {
				t.Errorf("Degraded = %+v while %s is fenced", c, victim)
			}
			e.converge(40)
			if after := memberID(t, e, victim); after == before {
				t.Errorf("%s kept raft ID %s; a replacement needs a new one", victim, before)
			}
			golden(t, "replace-lost-volume-"+victim, append(e.world.Calls, e.actions()...))
		})
	}
}

func TestReplaceMemberWithForeignDataWipesTheLearnersVolume(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-0")
	if err := e.world.ForeignVolume(e.ctx, "kv-1"); err != nil {
		t.Fatal(err)
	}
	e.converge(40)
	got := strings.Join(e.actions(), "\n")
	for _, want := range []string{"Remove: removing fenced members kv-1", "AddLearners: adding learners kv-1",
		"WipeVolume: deleting the stale volume of fenced learners kv-1", "Promote: promoting kv-1"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	golden(t, "replace-foreign-volume", append(e.world.Calls, e.actions()...))
}

// TestReplaceSeesFencingBeforeTheExitCode: during its grace period a
// fenced node's container still runs; the operator learns of the fencing
// from the node's status page and replaces it without waiting for exit 3.
func TestReplaceSeesFencingBeforeTheExitCode(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-0")
	e.world.FencedRunning = true
	before := memberID(t, e, "kv-2")
	if err := e.world.LoseVolume(e.ctx, "kv-2"); err != nil {
		t.Fatal(err)
	}
	e.converge(40)
	if after := memberID(t, e, "kv-2"); after == before {
		t.Errorf("kv-2 kept raft ID %s", before)
	}
}
