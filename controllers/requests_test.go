package controllers_test

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// annotate sets a request annotation, as `kubectl raft` does.
func (e *env) annotate(key, value string) {
	e.t.Helper()
	rc := e.get()
	if rc.Annotations == nil {
		rc.Annotations = map[string]string{}
	}
	rc.Annotations[key] = value
	if err := e.c.Update(e.ctx, rc); err != nil {
		e.t.Fatal(err)
	}
}

// tickUntilRequestDone ticks until the operator removed the annotation.
func (e *env) tickUntilRequestDone(key string, max int) {
	e.t.Helper()
	for range max {
		e.tick()
		if _, pending := e.get().Annotations[key]; !pending {
			return
		}
	}
	e.t.Fatalf("%s still set after %d loops; trace:\n%s", key, max, strings.Join(e.trace, "\n"))
}

func TestMoveLeaderRequest(t *testing.T) {
	for _, tc := range []struct{ target, want string }{{"kv-2", "kv-2"}, {"", "kv-1"}} {
		t.Run("to="+tc.target, func(t *testing.T) {
			e := newConverged(t, 3)
			e.world.SetLeader("kv-0")
			e.tick()
			e.annotate(raftv1alpha1.AnnotationMoveLeader, tc.target)
			e.tickUntilRequestDone(raftv1alpha1.AnnotationMoveLeader, 10)
			if got := e.world.Leader(); got != tc.want {
				t.Errorf("leader = %s, want %s; trace:\n%s", got, tc.want, strings.Join(e.trace, "\n"))
			}
			e.tick()
			if got := e.get().Status.Leader; got != tc.want {
				t.Errorf("status.leader = %s, want %s", got, tc.want)
			}
			if got := strings.Join(e.actions(), "\n"); !strings.Contains(got, "Normal MoveLeader") {
				t.Errorf("no MoveLeader event in\n%s", got)
			}
		})
	}
}

func TestMoveLeaderRequestToAStrangerIsRefused(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-0")
	e.annotate(raftv1alpha1.AnnotationMoveLeader, "kv-7")
	e.tickUntilRequestDone(raftv1alpha1.AnnotationMoveLeader, 5)
	if got := e.world.Leader(); got != "kv-0" {
		t.Errorf("leader = %s, want kv-0 kept", got)
	}
	if got := strings.Join(e.actions(), "\n"); !strings.Contains(got, "Warning MoveLeaderRefused: kv-7 is not a member") {
		t.Errorf("no refusal event in\n%s", got)
	}
}

func TestRequestsWaitWhilePaused(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-0")
	e.update(func(s *raftv1alpha1.RaftClusterSpec) { s.Paused = true })
	e.annotate(raftv1alpha1.AnnotationMoveLeader, "kv-1")
	for range 5 {
		e.tick()
	}
	if _, pending := e.get().Annotations[raftv1alpha1.AnnotationMoveLeader]; !pending || e.world.Leader() != "kv-0" {
		t.Fatalf("a paused cluster acted on a request: leader %s, annotations %v", e.world.Leader(), e.get().Annotations)
	}
	e.update(func(s *raftv1alpha1.RaftClusterSpec) { s.Paused = false })
	e.tickUntilRequestDone(raftv1alpha1.AnnotationMoveLeader, 10)
	if got := e.world.Leader(); got != "kv-1" {
		t.Errorf("after resume leader = %s, want kv-1", got)
	}
}

func TestRestartRequestOfTheLeaderMovesLeadershipFirst(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-0")
	e.tick()
	before := e.pods()["kv-0"].UID
	e.annotate(raftv1alpha1.AnnotationRestart, "kv-0")
	e.tickUntilRequestDone(raftv1alpha1.AnnotationRestart, 10)
	e.converge(20)
	if after := e.pods()["kv-0"]; after == nil || after.UID == before {
		t.Errorf("kv-0 was not restarted (UID %s)", before)
	}
	got := e.actions()
	move := indexOf(got, "Normal MoveLeader: Move leadership off kv-0")
	del := indexOf(got, "Normal DeletePod: Restart kv-0 as requested")
	if move < 0 || del < 0 || move > del {
		t.Errorf("want leadership moved off kv-0, then kv-0 deleted; got\n%s", strings.Join(got, "\n"))
	}
	if e.world.Leader() == "kv-0" && move < 0 {
		t.Error("kv-0 was restarted while leading")
	}
}

func indexOf(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

// learners returns the world's learners, sorted.
func (e *env) learners() []string {
	var out []string
	for name, learner := range e.world.Members() {
		if learner {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// The e2e hook: with TestHolds the operator records the Promote step of a
// scale-out and holds there, learners in place, until the annotation goes.
func TestTestHoldBeforePromote(t *testing.T) {
	e := newConverged(t, 3)
	e.r.TestHolds = true
	e.annotate(raftv1alpha1.AnnotationTestHoldBefore, "Promote")
	e.update(func(s *raftv1alpha1.RaftClusterSpec) { s.Replicas = ptr.To[int32](5) })
	held := func() bool {
		op := e.get().Status.Operation
		return op != nil && op.Step == "Promote" && slices.Equal(e.learners(), []string{"kv-3", "kv-4"})
	}
	for i := 0; !held(); i++ {
		if i == 30 {
			t.Fatalf("not held at Promote after 30 loops: operation %+v, learners %v", e.get().Status.Operation, e.learners())
		}
		e.tick()
	}
	for range 5 { // the hold is a state, not a moment
		e.tick()
		if !held() {
			t.Fatalf("the hold did not last: operation %+v, learners %v", e.get().Status.Operation, e.learners())
		}
	}
	if c := e.get().Condition(raftv1alpha1.ConditionProgressing); c == nil || c.Reason != raftv1alpha1.ReasonTestHold {
		t.Errorf("Progressing = %+v, want reason %s", c, raftv1alpha1.ReasonTestHold)
	}
	rc := e.get()
	delete(rc.Annotations, raftv1alpha1.AnnotationTestHoldBefore)
	if err := e.c.Update(e.ctx, rc); err != nil {
		t.Fatal(err)
	}
	e.converge(30)
}

// Without TestHolds (every production operator) the annotation does nothing.
func TestTestHoldIsIgnoredByDefault(t *testing.T) {
	e := newConverged(t, 3)
	e.annotate(raftv1alpha1.AnnotationTestHoldBefore, "Promote")
	e.update(func(s *raftv1alpha1.RaftClusterSpec) { s.Replicas = ptr.To[int32](5) })
	e.converge(30)
}
