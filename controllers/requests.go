package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
)

// requestAnnotations maps each request annotation to its kind, in the
// order they are served (one per loop).
var requestAnnotations = []struct {
	key  string
	kind membership.RequestKind
}{
	{raftv1alpha1.AnnotationMoveLeader, membership.RequestMoveLeader},
	{raftv1alpha1.AnnotationRestart, membership.RequestRestart},
}

// reconcileRequests carries out a user request (move-leader, restart) set
// as an annotation, e.g. by `kubectl raft`. It acts only when the planner
// has nothing to do: a request never interleaves with a membership change,
// never runs while paused, without a leader or in a joint configuration.
// The step itself comes from membership.PlanRequest and its preflight
// checks, and is taken through the same takeStep as planned steps. The
// annotation is removed once the request is done or refused; it is the
// request's durable record, so no status.operation is written for it.
func (r *RaftClusterReconciler) reconcileRequests(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	if res, held, err := r.testHold(ctx, s); held || err != nil {
		return res, err
	}
	key, req, ok := pendingRequest(s.rc)
	if !ok || membership.Next(&s.obs, s.spec()).Action != membership.ActionNone {
		return reconcile.Result{}, nil
	}
	step, verdict := membership.PlanRequest(&s.obs, req)
	logger := log.FromContext(ctx).WithValues("request", req.Kind, "target", req.Target)
	switch verdict {
	case membership.VerdictDone:
		logger.Info("Request already satisfied", "message", step.Message)
		r.eventAbout(s, nil, corev1.EventTypeNormal, string(req.Kind)+"Done", "%s", step.Message)
		return reconcile.Result{}, r.finishRequest(ctx, s, key)
	case membership.VerdictRefuse:
		logger.Info("Refusing request", "message", step.Message)
		r.eventAbout(s, nil, corev1.EventTypeWarning, string(req.Kind)+"Refused", "%s", step.Message)
		return reconcile.Result{}, r.finishRequest(ctx, s, key)
	case membership.VerdictWait:
		logger.V(1).Info("Request waits", "message", step.Message)
		s.step = step
		return reconcile.Result{RequeueAfter: WaitingRequeue}, nil
	}
	s.step = step
	logger.Info("Taking requested step", "step", step.String())
	err := r.takeStep(ctx, s)
	countChange(step.Action, err)
	switch {
	case err != nil && (nodeclient.IsNotLeader(err) || nodeclient.IsUnavailable(err)):
		return reconcile.Result{RequeueAfter: WaitingRequeue}, nil // re-observe, re-plan
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("cannot %s: %w", strings.ToLower(step.Message), err)
	}
	r.eventAbout(s, nil, corev1.EventTypeNormal, string(step.Action), "%s", step.Message)
	if req.Kind == membership.RequestRestart && step.Action == membership.ActionMoveLeader {
		// Leadership moved off the member to restart; the restart itself
		// is planned next loop from the new observation.
		return reconcile.Result{RequeueAfter: ActedRequeue}, nil
	}
	return reconcile.Result{RequeueAfter: ActedRequeue}, r.finishRequest(ctx, s, key)
}

// pendingRequest returns the first request annotation on rc.
func pendingRequest(rc *raftv1alpha1.RaftCluster) (string, membership.Request, bool) {
	for _, a := range requestAnnotations {
		if target, ok := rc.Annotations[a.key]; ok {
			return a.key, membership.Request{Kind: a.kind, Target: target}, true
		}
	}
	return "", membership.Request{}, false
}

// finishRequest removes the request's annotation (a merge patch: other
// annotations and concurrent writes are kept).
func (r *RaftClusterReconciler) finishRequest(ctx context.Context, s *reconcileState, key string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: nil}}})
	if err != nil {
		return err
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: s.rc.Namespace, Name: s.rc.Name}}
	if err := r.Patch(ctx, rc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("cannot remove annotation %s: %w", key, err)
	}
	return nil
}

// testHold holds the loop before the step named by AnnotationTestHoldBefore
// when the operator runs with TestHolds: it records the step's operation in
// status (what a real loop does just before acting) and requeues without
// acting, for as long as the annotation stays. Production operators never
// set TestHolds, so the annotation does nothing there.
func (r *RaftClusterReconciler) testHold(ctx context.Context, s *reconcileState) (reconcile.Result, bool, error) {
	before, ok := s.rc.Annotations[raftv1alpha1.AnnotationTestHoldBefore]
	if !r.TestHolds || !ok {
		return reconcile.Result{}, false, nil
	}
	next := membership.Next(&s.obs, s.spec())
	if string(next.Action) != before {
		return reconcile.Result{}, false, nil
	}
	s.step = next
	if err := r.recordOperation(ctx, s); err != nil {
		return reconcile.Result{}, true, err
	}
	s.step.Reason, s.step.Message = raftv1alpha1.ReasonTestHold, "test hold before "+next.String()
	log.FromContext(ctx).Info("Holding before a step (test hook)", "step", next.String())
	return reconcile.Result{RequeueAfter: WaitingRequeue}, true, nil
}
