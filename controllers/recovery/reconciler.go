package recovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/recovery/planner"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// observeEvery is how often the last observed commit index is refreshed
// while the cluster is healthy (the at-risk estimate is as fresh as it).
const observeEvery = 30 * time.Second

// Reasons of the events this reconciler emits.
const (
	ReasonQuorumLost   = "QuorumLost"
	ReasonPlanComputed = "RecoveryPlanComputed"
	ReasonNoSurvivor   = "RecoveryNoSurvivor"
)

// Reconciler writes status.recovery of RaftClusters. It reads only what
// the RaftCluster reconciler already observed (status.members) and the
// member PVCs, and writes only status.recovery (a merge patch, so the
// fields the other reconciler owns are left alone).
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&raftv1alpha1.RaftCluster{}).Named("raftcluster-recovery").Complete(r)
}

// Reconcile observes, computes status.recovery and patches it.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rc raftv1alpha1.RaftCluster
	if err := r.Client.Get(ctx, req.NamespacedName, &rc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	volumes, err := r.volumes(ctx, &rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	var prevCommit uint64
	if rc.Status.Recovery != nil {
		prevCommit = uint64(max(rc.Status.Recovery.LastObservedCommit, 0))
	}
	st, planErr := Status(Observe(&rc, volumes, prevCommit), rc.Status.Recovery, rc.Spec.Recovery)
	r.report(&rc, st, planErr)
	if err := r.patch(ctx, &rc, st); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: observeEvery}, nil
}

// report emits the events of a changed recovery state.
func (r *Reconciler) report(rc *raftv1alpha1.RaftCluster, st *raftv1alpha1.RecoveryStatus, planErr error) {
	prev := rc.Status.Recovery
	switch {
	case errors.Is(planErr, planner.ErrNoSurvivor):
		r.event(rc, corev1.EventTypeWarning, ReasonNoSurvivor, "%v", planErr)
	case st.QuorumLost && (prev == nil || !prev.QuorumLost):
		r.event(rc, corev1.EventTypeWarning, ReasonQuorumLost, "Quorum lost: a majority of voters is unreachable or lost its volume; set spec.recovery.mode=Preview to see a recovery plan")
	}
	if st.Plan != nil && (prev == nil || prev.Plan == nil || prev.Plan.ID != st.Plan.ID) {
		r.event(rc, corev1.EventTypeNormal, ReasonPlanComputed, "Plan %s: survivor %s, discarded %v, about %d acknowledged entries at risk",
			st.Plan.ID, st.Plan.Survivor, st.Plan.Discarded, st.Plan.AtRiskEntries)
	}
}

// volumes tells which voters still have their PVC.
func (r *Reconciler) volumes(ctx context.Context, rc *raftv1alpha1.RaftCluster) (map[string]bool, error) {
	var pvcs corev1.PersistentVolumeClaimList
	if err := r.Client.List(ctx, &pvcs, client.InNamespace(rc.Namespace), client.MatchingLabels{specs.LabelCluster: rc.Name, specs.LabelClusterUID: string(rc.UID)}); err != nil {
		return nil, fmt.Errorf("list PVCs: %w", err)
	}
	byName := map[string]bool{}
	for _, p := range pvcs.Items {
		if p.DeletionTimestamp.IsZero() {
			byName[p.Name] = true
		}
	}
	out := map[string]bool{}
	for _, m := range rc.Status.Members {
		out[m.Name] = byName[specs.PVCName(m.Name)]
	}
	return out, nil
}

// patch writes status.recovery alone, skipping a no-op.
func (r *Reconciler) patch(ctx context.Context, rc *raftv1alpha1.RaftCluster, st *raftv1alpha1.RecoveryStatus) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur raftv1alpha1.RaftCluster
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(rc), &cur); err != nil {
			return err
		}
		if cur.Status.Recovery != nil {
			// status.recovery.apply belongs to the RaftCluster reconciler,
			// which carries the Apply out.
			st.Apply = cur.Status.Recovery.Apply
		}
		if equality.Semantic.DeepEqual(cur.Status.Recovery, st) {
			return nil
		}
		upd := cur.DeepCopy()
		upd.Status.Recovery = st
		return r.Client.Status().Patch(ctx, upd, client.MergeFromWithOptions(&cur, client.MergeFromWithOptimisticLock{}))
	})
}

func (r *Reconciler) event(rc *raftv1alpha1.RaftCluster, kind, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, kind, reason, reason, format, args...)
	}
}
