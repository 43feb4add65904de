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
	// joint scenarios must see loops run while the configuration is joint.
	joint bool
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
	// The joint scenarios hold the configuration joint for a few loops
	// (the real node leaves it within its call only when it is quick):
	// each loop in between must keep the outgoing voters' pods, volumes
	// and PDB (checked by every tick, see checkJointKept).
	{name: "scale3to1-joint", size: 3, start: func(t *testing.T, e *env) {
		e.world.LeaveDelay = 3
		scaleTo(1)(t, e)
	}, hits: []string{controllers.FailpointAfterOperationRecorded}, joint: true},
	{name: "scale3to1-outgoing-voter-stopped", size: 3, start: func(t *testing.T, e *env) {
		e.world.LeaveDelay = 1
		stopWhileJoint(e, "kv-2", 4)
		scaleTo(1)(t, e)
	}, hits: []string{controllers.FailpointAfterOperationRecorded}, joint: true},
	{name: "scale3to5-joint", size: 3, start: func(t *testing.T, e *env) {
		e.world.LeaveDelay = 3
		scaleTo(5)(t, e)
	}, hits: []string{controllers.FailpointAfterAddLearners}, joint: true},
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
	// Quorum-loss recovery: a crash at each step of the Apply (recorded,
	// a step recorded, a volume deleted before its pod) and of the
	// grow-back that follows.
	{name: "recover-quorum-loss", size: 3, start: loseQuorumAndApply,
		hits: []string{controllers.FailpointAfterRecoveryRecorded, controllers.FailpointAfterRecoveryStepRecorded,
			controllers.FailpointAfterDiscardedVolumeDeleted, controllers.FailpointAfterOperationRecorded,
			controllers.FailpointAfterAddLearners, controllers.FailpointAfterPromote}},
}

// stopWhileJoint stops pod's node once the configuration is joint and
// starts it again after ticks Syncs. With kv-1 also an outgoing voter of
// 3→1, the leave then waits on the leader and kv-1 only; the stopped pod
// must come back on its own volume, as itself.
func stopWhileJoint(e *env, pod string, ticks int) {
	stopped := 0
	e.onTick = func() {
		joint, _ := e.world.Joint()
		switch {
		case stopped == 0 && joint:
			e.world.Stopped[pod] = true
			stopped = 1
		case stopped > 0 && stopped < ticks:
			stopped++
		case stopped == ticks:
			delete(e.world.Stopped, pod)
			stopped++
		}
	}
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
				t.Logf("fired=%v, converged in %d loops, %d of them joint", fired, loops, e.jointLoops)
				if sc.joint && e.jointLoops == 0 {
					t.Errorf("no loop ran while the configuration was joint")
				}
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
