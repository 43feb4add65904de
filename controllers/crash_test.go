package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
)

// scenario starts a change on a converged cluster.
type scenario struct {
	name  string
	size  int32
	start func(t *testing.T, e *env)
	// hits are the failpoints the change must pass.
	hits []string
}

func scaleTo(n int32) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		e.update(func(s *v1alpha1.RaftClusterSpec) { s.Replicas = ptr.To(n) })
	}
}

var scenarios = []scenario{
	{name: "scale1to3", size: 1, start: scaleTo(3),
		hits: []string{controllers.FailpointAfterOperationRecorded, controllers.FailpointAfterAddLearners, controllers.FailpointAfterPromote}},
	{name: "scale3to5", size: 3, start: scaleTo(5),
		hits: []string{controllers.FailpointAfterAddLearners, controllers.FailpointAfterPromote}},
	{name: "scale5to3-leader-victim", size: 5, start: func(t *testing.T, e *env) {
		e.world.SetLeader("kv-4")
		scaleTo(3)(t, e)
	}, hits: []string{controllers.FailpointAfterMoveLeader, controllers.FailpointAfterRemove}},
	{name: "scale3to1", size: 3, start: scaleTo(1), hits: []string{controllers.FailpointAfterRemove}},
	{name: "upgrade", size: 3, start: func(t *testing.T, e *env) {
		e.world.SetLeader("kv-1")
		e.update(func(s *v1alpha1.RaftClusterSpec) { s.Version = "v2" })
	}, hits: []string{controllers.FailpointAfterDeletePod, controllers.FailpointAfterMoveLeader}},
	{name: "replace-foreign-volume", size: 3, start: func(t *testing.T, e *env) {
		e.world.SetLeader("kv-0")
		if err := e.world.ForeignVolume(e.ctx, "kv-1"); err != nil {
			t.Fatal(err)
		}
	}, hits: []string{controllers.FailpointAfterRemove, controllers.FailpointAfterAddLearners,
		controllers.FailpointAfterWipeVolume, controllers.FailpointAfterPromote}},
}

// TestCrashAtEveryFailpointConverges stops the operator (a panic: no
// status written, all memory lost) at each failpoint of each change, then
// lets a fresh operator finish. Convergence includes: every member a voter
// (no stranded learner), the StatefulSet and the PVCs at spec.replicas,
// no operation left recorded.
func TestCrashAtEveryFailpointConverges(t *testing.T) {
	hit := map[string]bool{}
	for _, sc := range scenarios {
		// The golden file of a scenario holds, per failpoint that fired,
		// the steps before and after the crash.
		var traces []string
		for _, fp := range controllers.Failpoints {
			t.Run(sc.name+"/"+fp, func(t *testing.T) {
				e := newConverged(t, sc.size)
				fired := false
				e.r.Failpoint = func(name string) {
					if name == fp && !fired {
						fired = true
						panic("failpoint " + name)
					}
				}
				sc.start(t, e)
				loops := e.converge(60)
				t.Logf("fired=%v, converged in %d loops", fired, loops)
				if fired {
					hit[fp] = true
					if e.crashes != 1 {
						t.Errorf("%d crashes, want 1", e.crashes)
					}
					traces = append(traces, "## "+fp)
					traces = append(traces, e.actions()...)
				} else if slices.Contains(sc.hits, fp) {
					t.Errorf("the change never reached failpoint %s:\n%v", fp, e.trace)
				}
			})
		}
		golden(t, "crash-"+sc.name, traces)
	}
	for _, fp := range controllers.Failpoints {
		if !hit[fp] {
			t.Errorf("no scenario reached failpoint %s", fp)
		}
	}
}

// TestLostRepliesConverge makes every mutation apply but lose its reply:
// the next loop must see the change already made and not repeat it.
func TestLostRepliesConverge(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newConverged(t, sc.size)
			e.world.LoseReplies = 100
			sc.start(t, e)
			e.converge(60)
			if got, want := len(e.world.Members()), int(e.get().DesiredReplicas()); got != want {
				t.Errorf("%d members, want %d", got, want)
			}
			adds := 0
			for _, c := range e.world.Calls {
				if strings.HasPrefix(c, "ChangeMembers[AddLearner(") {
					adds++
				}
			}
			if adds > 1 {
				t.Errorf("learners added %d times: %s", adds, fmt.Sprint(e.world.Calls))
			}
		})
	}
}
