package backup

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/backup/policy"
)

// Labels and annotations of scheduled backups: listing a cluster's
// scheduled backups needs no other state, so the schedule keeps none.
const (
	LabelCluster   = "raft.kuberaft.io/cluster"
	LabelScheduled = "raft.kuberaft.io/scheduled"
	// AnnotationSlot is the cron slot (RFC 3339) a scheduled backup is for.
	AnnotationSlot = "raft.kuberaft.io/scheduled-slot"
)

// ScheduleReconciler creates a RaftBackup per cron slot of a RaftCluster's
// spec.backup and prunes finished ones per retention. Scheduled backups
// have no owner reference: they must outlive the cluster they restore.
type ScheduleReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Now      func() time.Time
}

// SetupWithManager registers the reconciler on RaftClusters and on their
// scheduled RaftBackups: a backup that finishes is pruned at once, so
// retention keepLast N keeps N finished backups, not N+1 until the next
// slot.
func (r *ScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&raftv1alpha1.RaftCluster{}).
		Watches(&raftv1alpha1.RaftBackup{}, handler.EnqueueRequestsFromMapFunc(scheduledBackupCluster)).
		Named("raftbackup-schedule").Complete(r)
}

// scheduledBackupCluster maps a scheduled RaftBackup to its RaftCluster.
func scheduledBackupCluster(_ context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l[LabelScheduled] != "true" || l[LabelCluster] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: l[LabelCluster]}}}
}

// Reconcile runs the due slot (at most one, named after the slot so a
// retried create finds it), prunes, and requeues at the next slot.
func (r *ScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rc raftv1alpha1.RaftCluster
	if err := r.Client.Get(ctx, req.NamespacedName, &rc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rc.Spec.Backup == nil || !rc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	sched, err := policy.ParseSchedule(rc.Spec.Backup.Schedule)
	if err != nil {
		r.event(&rc, corev1.EventTypeWarning, "InvalidSchedule", "spec.backup.schedule: %v", err)
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	backups, last, err := r.scheduled(ctx, &rc)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := r.now()
	due, slot, next := policy.Due(sched, last, now)
	if due && !rc.Spec.Backup.Suspend {
		if err := r.create(ctx, &rc, slot); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.prune(ctx, &rc, backups, now); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: max(next.Sub(now), time.Second)}, nil
}

// scheduled lists the cluster's scheduled backups and the latest slot run
// (the cluster's creation when none).
func (r *ScheduleReconciler) scheduled(ctx context.Context, rc *raftv1alpha1.RaftCluster) ([]raftv1alpha1.RaftBackup, time.Time, error) {
	var list raftv1alpha1.RaftBackupList
	if err := r.Client.List(ctx, &list, client.InNamespace(rc.Namespace),
		client.MatchingLabels{LabelCluster: rc.Name, LabelScheduled: "true"}); err != nil {
		return nil, time.Time{}, err
	}
	last := rc.CreationTimestamp.Time
	for _, b := range list.Items {
		if t, err := time.Parse(time.RFC3339, b.Annotations[AnnotationSlot]); err == nil && t.After(last) {
			last = t
		}
	}
	return list.Items, last, nil
}

func (r *ScheduleReconciler) create(ctx context.Context, rc *raftv1alpha1.RaftCluster, slot time.Time) error {
	b := &raftv1alpha1.RaftBackup{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: rc.Namespace, Name: fmt.Sprintf("%s-%d", rc.Name, slot.Unix()),
			Labels:      map[string]string{LabelCluster: rc.Name, LabelScheduled: "true"},
			Annotations: map[string]string{AnnotationSlot: slot.UTC().Format(time.RFC3339)},
		},
		Spec: raftv1alpha1.RaftBackupSpec{Cluster: rc.Name, Destination: rc.Spec.Backup.Destination},
	}
	if err := r.Client.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create scheduled backup %s: %w", b.Name, err)
	}
	r.event(rc, corev1.EventTypeNormal, "BackupScheduled", "Created RaftBackup %s for slot %s", b.Name, slot.UTC().Format(time.RFC3339))
	return nil
}

// prune deletes what retention drops; the RaftBackup finalizer deletes
// the stored files.
func (r *ScheduleReconciler) prune(ctx context.Context, rc *raftv1alpha1.RaftCluster, backups []raftv1alpha1.RaftBackup, now time.Time) error {
	ret := policy.Retention{KeepLast: int(rc.Spec.Backup.Retention.KeepLast)}
	if rc.Spec.Backup.Retention.MaxAge != nil {
		ret.MaxAge = rc.Spec.Backup.Retention.MaxAge.Duration
	}
	in := make([]policy.Backup, 0, len(backups))
	byName := map[string]*raftv1alpha1.RaftBackup{}
	for i := range backups {
		b := &backups[i]
		started, _ := time.Parse(time.RFC3339, b.Annotations[AnnotationSlot])
		finished := b.Status.Phase == raftv1alpha1.BackupCompleted || b.Status.Phase == raftv1alpha1.BackupFailed
		in = append(in, policy.Backup{Name: b.Name, Started: started, Finished: finished && b.DeletionTimestamp.IsZero()})
		byName[b.Name] = b
	}
	for _, name := range policy.Prune(in, ret, now) {
		if err := r.Client.Delete(ctx, byName[name]); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("prune %s: %w", name, err)
		}
		r.event(rc, corev1.EventTypeNormal, "BackupPruned", "Deleted RaftBackup %s (retention)", name)
	}
	return nil
}

func (r *ScheduleReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *ScheduleReconciler) event(rc *raftv1alpha1.RaftCluster, kind, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rc, nil, kind, reason, reason, format, args...)
	}
}
