package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/controllers/status"
)

// reconcileMembership asks the planner for the next step and takes it.
// Every acting step is recorded in status.operation before it acts, so a
// restarted operator knows what was in flight; it still decides from the
// membership it observes, which is what makes a half-done step heal.
func (r *RaftClusterReconciler) reconcileMembership(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	s.step = membership.Next(&s.obs, s.spec())
	key := types.NamespacedName{Namespace: s.rc.Namespace, Name: s.rc.Name}
	switch s.step.Action {
	case membership.ActionNone:
		r.resetWaits(key)
		return reconcile.Result{RequeueAfter: ResyncPeriod}, nil
	case membership.ActionWait:
		after := r.waitRequeue(key)
		log.FromContext(ctx).V(1).Info("Waiting", "reason", s.step.Reason, "message", s.step.Message, "requeueAfter", after)
		return reconcile.Result{RequeueAfter: after}, nil
	}
	r.resetWaits(key)
	if err := r.recordOperation(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	r.failpoint(FailpointAfterOperationRecorded)
	log.FromContext(ctx).Info("Taking membership step", "step", s.step.String(), "operation", s.step.Operation)
	err := r.takeStep(ctx, s)
	countChange(s.step.Action, err)
	// The first target's pod is the event's related object, so that steps
	// on different members are not merged into one event series.
	related := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: s.rc.Namespace, Name: s.step.Targets()[0]}}
	switch {
	case err == nil:
		r.eventAbout(s, related, corev1.EventTypeNormal, string(s.step.Action), "%s", s.step.Message)
		return reconcile.Result{RequeueAfter: ActedRequeue}, nil
	case nodeclient.IsNotLeader(err) || nodeclient.IsRetryableChange(err) || nodeclient.IsUnavailable(err):
		// Leadership moved, a learner fell behind again, or the node was
		// briefly unreachable: the next loop re-observes and re-plans.
		r.eventAbout(s, related, corev1.EventTypeWarning, string(s.step.Action)+"Deferred", "%s: %v", s.step.Message, err)
		return reconcile.Result{RequeueAfter: WaitingRequeue}, nil
	}
	r.eventAbout(s, related, corev1.EventTypeWarning, string(s.step.Action)+"Failed", "%s: %v", s.step.Message, err)
	return reconcile.Result{}, fmt.Errorf("cannot %s: %w", strings.ToLower(s.step.Message), err)
}

// recordOperation writes status.operation for the step about to act,
// keeping startedAt while the same operation continues.
func (r *RaftClusterReconciler) recordOperation(ctx context.Context, s *reconcileState) error {
	op := &raftv1alpha1.Operation{Type: s.step.Operation, Targets: s.step.Targets(), Step: string(s.step.Action),
		StartedAt: metav1.NewTime(r.now())}
	if cur := s.rc.Status.Operation; cur != nil && cur.Type == op.Type {
		op.StartedAt = cur.StartedAt
	}
	written, err := status.Patch(ctx, r.Client, types.NamespacedName{Namespace: s.rc.Namespace, Name: s.rc.Name},
		func(st *raftv1alpha1.RaftClusterStatus) { st.Operation = op })
	if err != nil {
		return err
	}
	s.rc.Status.Operation = written.Operation
	return nil
}

// takeStep carries out one acting step; the failpoint after each call
// marks where the change's other half (StatefulSet resize, status) is not
// done yet.
func (r *RaftClusterReconciler) takeStep(ctx context.Context, s *reconcileState) error {
	leader := r.endpoint(s, s.leader.Name)
	step := s.step
	switch step.Action {
	case membership.ActionAddLearners:
		changes := make([]nodeclient.Change, len(step.Names))
		for i, name := range step.Names {
			changes[i] = nodeclient.Change{Type: nodeclient.AddLearner, Name: name, PeerURLs: []string{specs.PeerURL(s.rc, r.Specs, name)}}
		}
		return r.change(ctx, leader, changes, FailpointAfterAddLearners)
	case membership.ActionPromote:
		return r.change(ctx, leader, memberChanges(nodeclient.Promote, step.Members), FailpointAfterPromote)
	case membership.ActionRemove:
		return r.change(ctx, leader, memberChanges(nodeclient.Remove, step.Members), FailpointAfterRemove)
	case membership.ActionMoveLeader:
		if err := r.Nodes.MoveLeader(ctx, leader, step.Members[0].ID); err != nil {
			return err
		}
		r.failpoint(FailpointAfterMoveLeader)
		return nil
	case membership.ActionDeletePod:
		if err := r.deletePod(ctx, s, step.Members[0].Name); err != nil {
			return err
		}
		r.failpoint(FailpointAfterDeletePod)
		return nil
	case membership.ActionWipeVolume:
		return r.wipeVolumes(ctx, s, step.Names)
	}
	return fmt.Errorf("unknown step %s", step.Action)
}

func (r *RaftClusterReconciler) change(ctx context.Context, leader nodeclient.Endpoint, changes []nodeclient.Change, after string) error {
	if _, err := r.Nodes.ChangeMembers(ctx, leader, changes); err != nil {
		return err
	}
	r.failpoint(after)
	return nil
}

func memberChanges(t nodeclient.ChangeType, ms []membership.Member) []nodeclient.Change {
	out := make([]nodeclient.Change, len(ms))
	for i, m := range ms {
		out[i] = nodeclient.Change{Type: t, ID: m.ID}
	}
	return out
}

// deletePod deletes the observed pod (by UID: never a newer pod of the
// same name); the StatefulSet recreates it from the current template.
func (r *RaftClusterReconciler) deletePod(ctx context.Context, s *reconcileState, name string) error {
	pod := s.pods[membership.Ordinal(s.rc.Name, name)]
	if pod == nil {
		return nil
	}
	if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("cannot delete pod %s: %w", name, err)
	}
	return nil
}

// wipeVolumes deletes the PVC, then the pod, of each fenced learner: the
// StatefulSet recreates the pod with an empty volume, and the node joins
// with the learner's ID.
func (r *RaftClusterReconciler) wipeVolumes(ctx context.Context, s *reconcileState, names []string) error {
	var errs []error
	for _, name := range names {
		if pvc := s.pvcs[membership.Ordinal(s.rc.Name, name)]; pvc != nil && pvc.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, pvc, client.Preconditions{UID: &pvc.UID}); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("cannot delete PVC %s: %w", pvc.Name, err))
				continue
			}
		}
		r.failpoint(FailpointAfterWipeVolume)
		errs = append(errs, r.deletePod(ctx, s, name))
	}
	return errors.Join(errs...)
}
