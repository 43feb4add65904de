package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/recovery"
	"github.com/kuberaft/kuberaft/controllers/recovery/planner"
	"github.com/kuberaft/kuberaft/controllers/status"
)

// Event reasons of a quorum-loss recovery (Apply).
const (
	EventRecoveryStarted      = "RecoveryStarted"
	EventRecoveryStep         = "RecoveryStep"
	EventRecoveryCompleted    = "RecoveryCompleted"
	EventRecoveryCancelled    = "RecoveryCancelled"
	EventRecoveryPlanMismatch = "RecoveryPlanMismatch"
)

// reconcileRecovery carries out spec.recovery.mode Apply: it records the
// Apply in status.recovery.apply (which puts the force flags on the pod
// template, see specs.forceArgs), then takes one step of
// planner.Next per loop: delete the discarded members' volumes and pods,
// restart the survivor forced, wait for it to lead, let the membership
// phase grow the cluster back. Each step is recorded before it acts, and
// every decision is re-derived from what this loop observed, so a crash
// anywhere resumes. A recorded Apply runs to its end even if spec.recovery
// is removed: stopping halfway would leave the cluster worse off.
func (r *RaftClusterReconciler) reconcileRecovery(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	spec := s.rc.Spec.Recovery
	var apply *raftv1alpha1.RecoveryApplyStatus
	if s.rc.Status.Recovery != nil {
		apply = s.rc.Status.Recovery.Apply
	}
	if apply.Active() {
		return r.continueRecovery(ctx, s, apply)
	}
	if spec == nil || spec.Mode != raftv1alpha1.RecoveryApply || (apply != nil && apply.PlanID == spec.PlanID) {
		if apply != nil {
			// Re-derived on every loop: a crash right after the Apply was
			// recorded as finished must not leave Recovering True.
			reason, msg := recoveryCondition(planner.Step{Kind: planner.StepKind(apply.Step)}, apply)
			s.recovering = &metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: msg}
		}
		return reconcile.Result{}, nil // nothing asked, or that plan was already applied
	}
	return r.startRecovery(ctx, s, spec.PlanID)
}

// currentPlan is the plan Preview shows now, computed from the same
// inputs as the recovery reconciler's (status.members, the volumes, the
// last commit seen while healthy), so the IDs agree.
func currentPlan(s *reconcileState) (planner.Plan, error) {
	volumes := map[string]bool{}
	for _, m := range s.rc.Status.Members {
		pvc := s.pvcs[membership.Ordinal(s.rc.Name, m.Name)]
		volumes[m.Name] = pvc != nil && pvc.DeletionTimestamp.IsZero()
	}
	var lastCommit uint64
	if s.rc.Status.Recovery != nil {
		lastCommit = uint64(max(s.rc.Status.Recovery.LastObservedCommit, 0))
	}
	return planner.MakePlan(recovery.Observe(s.rc, volumes, lastCommit))
}

// startRecovery checks the plan ID against the plan computed now and
// records the Apply, with the UIDs of the discarded members' volumes and
// pods: exactly those are deleted later.
func (r *RaftClusterReconciler) startRecovery(ctx context.Context, s *reconcileState, planID string) (reconcile.Result, error) {
	plan, err := currentPlan(s)
	if err != nil || plan.ID != planID {
		msg := fmt.Sprintf("spec.recovery.planID %q is not the current plan", planID)
		if err != nil {
			msg += fmt.Sprintf(" (%v)", err)
		} else {
			msg += fmt.Sprintf(" (%s); run Preview again and review it", plan.ID)
		}
		s.recovering = &metav1.Condition{Status: metav1.ConditionFalse, Reason: raftv1alpha1.ReasonRecoveryPlanMismatch, Message: msg + "; nothing was changed"}
		r.event(s, corev1.EventTypeWarning, EventRecoveryPlanMismatch, "%s; nothing was changed", msg)
		return reconcile.Result{}, nil
	}
	apply := &raftv1alpha1.RecoveryApplyStatus{PlanID: plan.ID, Survivor: plan.Survivor.Name, Discarded: plan.Discarded,
		StartedAt: metav1.NewTime(r.now())}
	for _, name := range plan.Discarded {
		n := membership.Ordinal(s.rc.Name, name)
		if pvc := s.pvcs[n]; pvc != nil {
			apply.DiscardedVolumes = append(apply.DiscardedVolumes, string(pvc.UID))
		}
		if pod := s.pods[n]; pod != nil {
			apply.DiscardedPods = append(apply.DiscardedPods, string(pod.UID))
		}
	}
	log.FromContext(ctx).Info("Starting quorum-loss recovery", "plan", plan.ID, "survivor", apply.Survivor, "discarded", apply.Discarded)
	if err := r.recordApply(ctx, s, apply); err != nil {
		return reconcile.Result{}, err
	}
	r.failpoint(FailpointAfterRecoveryRecorded)
	s.recovering = &metav1.Condition{Status: metav1.ConditionTrue, Reason: raftv1alpha1.ReasonRecoveryDeletingVolume,
		Message: fmt.Sprintf("applying plan %s: survivor %s, discarding %v", plan.ID, apply.Survivor, apply.Discarded)}
	r.event(s, corev1.EventTypeWarning, EventRecoveryStarted, "Applying recovery plan %s: %s becomes the only voter of a new cluster; the volumes of %v are deleted; about %d acknowledged entries are at risk",
		plan.ID, apply.Survivor, apply.Discarded, plan.AtRiskEntries)
	// The next loop's ensureObjects puts the force flags on the template.
	return reconcile.Result{RequeueAfter: ActedRequeue}, nil
}

// recordApply writes status.recovery.apply (the rest of status.recovery
// belongs to the recovery reconciler).
func (r *RaftClusterReconciler) recordApply(ctx context.Context, s *reconcileState, apply *raftv1alpha1.RecoveryApplyStatus) error {
	written, err := status.Patch(ctx, r.Client, types.NamespacedName{Namespace: s.rc.Namespace, Name: s.rc.Name},
		func(st *raftv1alpha1.RaftClusterStatus) {
			if st.Recovery == nil {
				st.Recovery = &raftv1alpha1.RecoveryStatus{}
			}
			st.Recovery.Apply = apply
		})
	if err != nil {
		return err
	}
	s.rc.Status.Recovery = written.Recovery
	return nil
}

// applyObserved is the recovery planner's view of this loop.
func applyObserved(s *reconcileState, apply *raftv1alpha1.RecoveryApplyStatus) planner.ApplyObserved {
	o := planner.ApplyObserved{Survivor: apply.Survivor, Discarded: apply.Discarded,
		OldVolumes: map[string]bool{}, OldPods: map[string]bool{}, Started: apply.Step != "",
		QuorumBack: s.obs.LeaderID != 0, SurvivorLeads: s.obs.LeaderID != 0, Replicas: int(s.rc.DesiredReplicas())}
	for _, name := range apply.Discarded {
		n := membership.Ordinal(s.rc.Name, name)
		pvc := s.pvcs[n]
		old := pvc != nil && slices.Contains(apply.DiscardedVolumes, string(pvc.UID))
		o.OldVolumes[name] = old && pvc.DeletionTimestamp.IsZero()
		o.OldPods[name] = holdsOldVolume(s.pods[n], pvc, old, apply)
	}
	if p, ok := s.obs.Pods[membership.Ordinal(s.rc.Name, apply.Survivor)]; ok {
		o.SurvivorForced = p.UpToDate && !p.Terminating
	}
	for _, m := range s.obs.Voters() {
		if m.Healthy {
			o.HealthyVoters++
		}
	}
	if len(s.obs.Learners()) > 0 {
		o.HealthyVoters = min(o.HealthyVoters, o.Replicas-1) // not done while a learner waits
	}
	return o
}

// holdsOldVolume: pod is not being deleted and may hold a discarded
// member's old volume: it was there when the Apply started, or it was
// scheduled before its (old) volume's deletion began. A pod the
// StatefulSet created after that never mounts it (a PVC being deleted is
// not used for new pods) and gets a fresh one.
func holdsOldVolume(pod *corev1.Pod, pvc *corev1.PersistentVolumeClaim, old bool, apply *raftv1alpha1.RecoveryApplyStatus) bool {
	if pod == nil || !pod.DeletionTimestamp.IsZero() {
		return false
	}
	if slices.Contains(apply.DiscardedPods, string(pod.UID)) {
		return true
	}
	return old && !pvc.DeletionTimestamp.IsZero() && pod.Spec.NodeName != "" && pod.CreationTimestamp.Before(pvc.DeletionTimestamp)
}

// continueRecovery takes the next step of a recorded Apply.
func (r *RaftClusterReconciler) continueRecovery(ctx context.Context, s *reconcileState, apply *raftv1alpha1.RecoveryApplyStatus) (reconcile.Result, error) {
	step := planner.Next(applyObserved(s, apply))
	reason, msg := recoveryCondition(step, apply)
	s.recovering = &metav1.Condition{Status: metav1.ConditionTrue, Reason: reason, Message: msg}
	finished := step.Kind == planner.Done || step.Kind == planner.Cancel
	if finished {
		s.recovering.Status = metav1.ConditionFalse
		kind, reason := corev1.EventTypeNormal, EventRecoveryCompleted
		if step.Kind == planner.Cancel {
			kind, reason = corev1.EventTypeWarning, EventRecoveryCancelled
		}
		r.event(s, kind, reason, "%s", msg)
	}
	if step.String() != apply.Step {
		next := apply.DeepCopy()
		next.Step = step.String()
		if step.Kind == planner.Done || step.Kind == planner.Cancel {
			next.CompletedAt = ptrTime(metav1.NewTime(r.now()))
		}
		log.FromContext(ctx).Info("Recovery step", "plan", apply.PlanID, "step", step.String())
		if err := r.recordApply(ctx, s, next); err != nil {
			return reconcile.Result{}, err
		}
		r.failpoint(FailpointAfterRecoveryStepRecorded)
	}
	switch step.Kind {
	case planner.Done, planner.Cancel:
		// This loop observed (and built the desired template) with the
		// Apply still active; a cancelled one changes the template back,
		// so the membership phase must not act on this loop's view.
		return reconcile.Result{RequeueAfter: ActedRequeue}, nil
	case planner.GrowBack:
		return reconcile.Result{}, nil // the membership phase adds and promotes
	case planner.WaitSurvivor:
		return reconcile.Result{RequeueAfter: r.waitRequeue(types.NamespacedName{Namespace: s.rc.Namespace, Name: s.rc.Name})}, nil
	}
	if err := r.takeRecoveryStep(ctx, s, step); err != nil {
		r.event(s, corev1.EventTypeWarning, EventRecoveryStep+"Failed", "%s: %v", msg, err)
		return reconcile.Result{}, err
	}
	r.event(s, corev1.EventTypeNormal, EventRecoveryStep, "%s", msg)
	return reconcile.Result{RequeueAfter: ActedRequeue}, nil
}

// takeRecoveryStep carries out a destructive step. Pods and volumes are
// deleted by UID, never a newer object of the same name.
func (r *RaftClusterReconciler) takeRecoveryStep(ctx context.Context, s *reconcileState, step planner.Step) error {
	n := membership.Ordinal(s.rc.Name, step.Member)
	switch step.Kind {
	case planner.DeleteVolume:
		if pvc := s.pvcs[n]; pvc != nil {
			if err := r.Delete(ctx, pvc, client.Preconditions{UID: &pvc.UID}); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("cannot delete PVC %s: %w", pvc.Name, err)
			}
		}
		r.failpoint(FailpointAfterDiscardedVolumeDeleted)
		return r.deletePod(ctx, s, step.Member)
	case planner.DeletePod, planner.ForceSurvivor:
		return r.deletePod(ctx, s, step.Member)
	}
	return fmt.Errorf("unknown recovery step %s", step)
}

// recoveryCondition is the Recovering condition's reason and message for
// step.
func recoveryCondition(step planner.Step, apply *raftv1alpha1.RecoveryApplyStatus) (string, string) {
	plan := "plan " + apply.PlanID + ": "
	switch step.Kind {
	case planner.Cancel:
		return raftv1alpha1.ReasonRecoveryCancelled, plan + "quorum came back before anything was deleted; nothing was changed"
	case planner.DeleteVolume:
		return raftv1alpha1.ReasonRecoveryDeletingVolume, plan + "deleting the volume, then the pod, of discarded member " + step.Member
	case planner.DeletePod:
		return raftv1alpha1.ReasonRecoveryDeletingPod, plan + "deleting the pod of discarded member " + step.Member + ", which holds its deleted volume"
	case planner.ForceSurvivor:
		return raftv1alpha1.ReasonRecoveryForcingSurvivor, plan + "restarting " + step.Member + " with --force-new-cluster as the only voter of a new cluster"
	case planner.WaitSurvivor:
		return raftv1alpha1.ReasonRecoveryWaitingSurvivor, plan + "waiting for " + step.Member + " to lead its new cluster"
	case planner.GrowBack:
		return raftv1alpha1.ReasonRecoveryGrowingBack, plan + "adding fresh members as learners and promoting them up to spec.replicas"
	}
	return raftv1alpha1.ReasonRecovered, plan + apply.Survivor + " survived; the cluster has spec.replicas healthy voters again"
}

// setRecovering writes the Recovering condition decided this loop, if any.
func setRecovering(conds *[]metav1.Condition, c *metav1.Condition, generation int64) {
	if c == nil {
		return
	}
	c.Type, c.ObservedGeneration = raftv1alpha1.ConditionRecovering, generation
	meta.SetStatusCondition(conds, *c)
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }
