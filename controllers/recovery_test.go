package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
	"github.com/kuberaft/kuberaft/controllers/recovery"
)

// loseQuorum deletes the volumes of kv-1 (the leader) and kv-2 for good
// and lets the operator see it: kv-0 is the only voter with its data.
func loseQuorum(t *testing.T, e *env) {
	t.Helper()
	if !e.world.SetLeader("kv-1") {
		t.Fatal("kv-1 cannot lead")
	}
	for _, pod := range []string{"kv-1", "kv-2"} {
		if err := e.world.LoseVolume(e.ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		e.tick()
	}
}

// preview runs the recovery reconciler once (status.recovery.plan) and
// returns the plan it shows.
func preview(t *testing.T, e *env) *v1alpha1.RecoveryPlanStatus {
	t.Helper()
	e.update(func(s *v1alpha1.RaftClusterSpec) {
		s.Recovery = &v1alpha1.RecoverySpec{Mode: v1alpha1.RecoveryPreview}
	})
	r := &recovery.Reconciler{Client: e.c}
	if _, err := r.Reconcile(e.ctx, ctrl.Request{NamespacedName: e.key}); err != nil {
		t.Fatal(err)
	}
	st := e.get().Status.Recovery
	if st == nil || !st.QuorumLost || st.Plan == nil {
		t.Fatalf("no plan after quorum loss: %+v", st)
	}
	return st.Plan
}

// applyPlan sets spec.recovery to Apply with id.
func applyPlan(id string) func(*v1alpha1.RaftClusterSpec) {
	return func(s *v1alpha1.RaftClusterSpec) {
		s.Recovery = &v1alpha1.RecoverySpec{Mode: v1alpha1.RecoveryApply, PlanID: id}
	}
}

// loseQuorumAndApply is the crash scenario's start: quorum loss, Preview,
// then Apply of the previewed plan.
func loseQuorumAndApply(t *testing.T, e *env) {
	loseQuorum(t, e)
	e.update(applyPlan(preview(t, e).ID))
}

// TestRecoveryApply: after two of three volumes are lost, an Apply with a
// stale plan ID changes nothing; the previewed ID forces kv-0 into a new
// cluster (its member ID kept, a new cluster ID), deletes the discarded
// volumes and grows back to 3 voters. The steps are golden.
func TestRecoveryApply(t *testing.T) {
	e := newConverged(t, 3)
	survivorID := e.get().Status.Members[0].ID
	loseQuorum(t, e)
	plan := preview(t, e)
	if plan.Survivor != "kv-0" || len(plan.Discarded) != 2 {
		t.Fatalf("plan %+v", plan)
	}

	e.update(applyPlan("not-" + plan.ID))
	pvcs := len(e.list(&corev1.PersistentVolumeClaimList{}))
	for range 3 {
		e.tick()
	}
	rc := e.get()
	if c := meta.FindStatusCondition(rc.Status.Conditions, v1alpha1.ConditionRecovering); c == nil || c.Reason != v1alpha1.ReasonRecoveryPlanMismatch {
		t.Fatalf("a stale plan ID: Recovering %+v", c)
	}
	if rc.Status.Recovery.Apply != nil || len(e.list(&corev1.PersistentVolumeClaimList{})) != pvcs || len(e.world.Members()) != 3 {
		t.Fatalf("a stale plan ID changed something: apply %+v", rc.Status.Recovery.Apply)
	}

	e.update(applyPlan(plan.ID))
	e.converge(60)
	rc = e.get()
	if c := meta.FindStatusCondition(rc.Status.Conditions, v1alpha1.ConditionRecovering); c == nil || c.Reason != v1alpha1.ReasonRecovered {
		t.Errorf("Recovering %+v", c)
	}
	for _, m := range rc.Status.Members {
		if m.Name == "kv-0" && m.ID != survivorID {
			t.Errorf("the survivor has ID %s, want its own %s", m.ID, survivorID)
		}
	}
	golden(t, "recovery-apply", e.actions())
}

// TestRecoveryCrashAtEveryStep stops the operator at the n-th time it
// passes each recovery failpoint, for every n the Apply reaches: after
// each step is recorded (before it acts) and after each discarded volume
// is deleted (before its pod). A fresh operator must finish the recovery
// with the same outcome. The traces are golden.
func TestRecoveryCrashAtEveryStep(t *testing.T) {
	var traces []string
	for _, fp := range []string{controllers.FailpointAfterRecoveryRecorded, controllers.FailpointAfterRecoveryStepRecorded,
		controllers.FailpointAfterDiscardedVolumeDeleted} {
		for n := 1; ; n++ {
			e := newConverged(t, 3)
			survivorID := e.get().Status.Members[0].ID
			seen := 0
			e.r.Failpoint = func(name string) {
				if name == fp {
					if seen++; seen == n {
						panic(fmt.Sprintf("failpoint %s #%d", name, n))
					}
				}
			}
			loseQuorumAndApply(t, e)
			e.trace = nil
			e.converge(60)
			if e.crashes == 0 {
				break // the Apply passes fp fewer than n times
			}
			rc := e.get()
			if rc.Status.Recovery.Apply.Step != "Done" || rc.Status.Members[0].ID != survivorID {
				t.Errorf("%s #%d: apply %+v, kv-0 ID %s (want %s)", fp, n, rc.Status.Recovery.Apply, rc.Status.Members[0].ID, survivorID)
			}
			traces = append(traces, fmt.Sprintf("## %s #%d", fp, n))
			traces = append(traces, e.actions()...)
		}
	}
	golden(t, "crash-recovery-every-step", traces)
}

// TestRecoveryCancelledWhenQuorumReturns: two members are down with their
// volumes intact; an Apply is recorded, and they come back before the
// first step: the Apply is cancelled, nothing is deleted, and the
// template does not carry the force flags.
func TestRecoveryCancelledWhenQuorumReturns(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-1")
	e.world.Stopped["kv-1"], e.world.Stopped["kv-2"] = true, true
	for range 3 {
		e.tick()
	}
	pvcs := map[string]string{}
	for _, o := range e.list(&corev1.PersistentVolumeClaimList{}) {
		pvcs[o.GetName()] = string(o.GetUID())
	}
	e.update(applyPlan(preview(t, e).ID))
	e.onTick = func() { // the members return right after the Apply is recorded
		if r := e.get().Status.Recovery; r != nil && r.Apply != nil {
			delete(e.world.Stopped, "kv-1")
			delete(e.world.Stopped, "kv-2")
		}
	}
	e.converge(30)
	rc := e.get()
	if a := rc.Status.Recovery.Apply; a == nil || a.Step != "Cancel" || a.CompletedAt == nil {
		t.Fatalf("apply %+v, want cancelled", a)
	}
	if c := meta.FindStatusCondition(rc.Status.Conditions, v1alpha1.ConditionRecovering); c == nil || c.Reason != v1alpha1.ReasonRecoveryCancelled {
		t.Errorf("Recovering %+v", c)
	}
	for _, o := range e.list(&corev1.PersistentVolumeClaimList{}) {
		if pvcs[o.GetName()] != string(o.GetUID()) {
			t.Errorf("PVC %s was replaced", o.GetName())
		}
	}
	sts := &appsv1.StatefulSet{}
	if err := e.c.Get(e.ctx, e.key, sts); err != nil {
		t.Fatal(err)
	}
	if args := sts.Spec.Template.Spec.Containers[0].Args; slices.Contains(args, "--force-new-cluster") {
		t.Errorf("a cancelled Apply left the force flags: %v", args)
	}
	for _, l := range e.trace {
		if strings.Contains(l, "DeletePod") {
			t.Errorf("a cancelled Apply restarted a member: %s", l)
		}
	}
	golden(t, "recovery-cancelled", e.actions())
}
