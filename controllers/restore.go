package controllers

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/restore"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/controllers/status"
)

// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftbackups,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=create
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create

// ensureRestore carries out spec.bootstrap.restore before the cluster's
// objects exist: it observes the source, the first member's PVC and the
// fetch Job, and takes the one step restore.Next chooses. Only Seed (the
// file is placed and verified) lets the loop go on, to ensureObjects,
// which then records a one-member bootstrap. Restoring into a cluster that
// already exists is refused by the API (spec.bootstrap can only be set at
// creation), and a running cluster is "Done" here for good.
func (r *RaftClusterReconciler) ensureRestore(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	spec := s.rc.RestoreSource()
	if spec == nil || s.rc.Spec.Paused {
		return reconcile.Result{}, nil
	}
	o, err := r.observeRestore(ctx, s, spec)
	if err != nil {
		return reconcile.Result{}, err
	}
	step := restore.Next(o)
	s.restore = &step
	switch step.Action {
	case restore.Done:
		return reconcile.Result{}, nil
	case restore.Seed:
		s.restoreSeeded = true
		r.event(s, corev1.EventTypeNormal, "RestoreVerified", "Snapshot %s", step.Message)
		return reconcile.Result{}, nil
	case restore.CreateClaim:
		return r.createRestoreClaim(ctx, s)
	case restore.CreateJob:
		return r.createFetchJob(ctx, s, step.Source)
	case restore.Fail:
		r.event(s, corev1.EventTypeWarning, step.Reason, "%s", step.Message)
		s.terminal = &status.ReasonError{Reason: step.Reason, Err: errors.New(step.Message)}
		s.incomplete = true
		return reconcile.Result{RequeueAfter: ResyncPeriod}, nil
	}
	s.incomplete = true
	return reconcile.Result{RequeueAfter: r.waitRequeue(client.ObjectKeyFromObject(s.rc))}, nil
}

// observeRestore reads the restore's source and progress; the PVCs and
// the bootstrap record come from observe.
func (r *RaftClusterReconciler) observeRestore(ctx context.Context, s *reconcileState, spec *raftv1alpha1.RestoreSource) (restore.Observed, error) {
	o := restore.Observed{Spec: spec, Bootstrapped: s.bootstrap != nil, Formed: s.obs.Bootstrapped, ClaimExists: s.pvcs[0] != nil}
	if o.Bootstrapped {
		return o, nil
	}
	if spec.Backup != "" {
		var b raftv1alpha1.RaftBackup
		switch err := r.Get(ctx, client.ObjectKey{Namespace: s.rc.Namespace, Name: spec.Backup}, &b); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return o, fmt.Errorf("get RaftBackup %s: %w", spec.Backup, err)
		default:
			o.Backup = &b
		}
	}
	var job batchv1.Job
	switch err := r.Get(ctx, client.ObjectKey{Namespace: s.rc.Namespace, Name: specs.RestoreJobName(s.rc)}, &job); {
	case apierrors.IsNotFound(err):
		return o, nil
	case err != nil:
		return o, fmt.Errorf("get restore Job: %w", err)
	case !metav1.IsControlledBy(&job, s.rc):
		return o, s.nameConflict("Job", job.Name)
	}
	o.Job.Exists = true
	o.Job.Succeeded = job.Status.Succeeded > 0
	o.Job.Failed = job.Status.Failed > 0 || jobConditionTrue(&job, batchv1.JobFailed)
	if o.Job.Succeeded || o.Job.Failed {
		msg, err := r.jobMessage(ctx, &job)
		if err != nil {
			return o, err
		}
		o.Job.Message = msg
	}
	if o.Job.Succeeded && o.Job.Message == "" {
		// The pod's termination message may reach the cache after the
		// Job's success (two informers); fetch always writes one.
		o.Job.Succeeded = false
	}
	return o, nil
}

// createRestoreClaim creates the first member's PVC as the StatefulSet
// would (it adopts it by name). With reclaimPolicy Delete the RaftCluster
// owns it too, so a restore abandoned before the StatefulSet exists
// leaves nothing behind.
func (r *RaftClusterReconciler) createRestoreClaim(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	pvc := specs.MemberClaim(s.rc, specs.RestoreMember(s.rc))
	if s.rc.VolumeReclaimPolicy() == raftv1alpha1.ReclaimDelete {
		if err := controllerutil.SetOwnerReference(s.rc, pvc, r.Scheme); err != nil {
			return reconcile.Result{}, err
		}
	}
	log.FromContext(ctx).Info("Creating the first member's volume for the restore", "pvc", pvc.Name)
	if err := r.Create(ctx, pvc); err != nil && !apierrors.IsAlreadyExists(err) {
		return reconcile.Result{}, fmt.Errorf("create PVC %s: %w", pvc.Name, err)
	}
	r.event(s, corev1.EventTypeNormal, "RestoreStarted", "Restoring into a new cluster: created volume %s for member %s", pvc.Name, specs.RestoreMember(s.rc))
	s.incomplete = true
	return reconcile.Result{RequeueAfter: ActedRequeue}, nil
}

// createFetchJob starts the Job that places and verifies the file.
func (r *RaftClusterReconciler) createFetchJob(ctx context.Context, s *reconcileState, src restore.Source) (reconcile.Result, error) {
	job := restore.FetchJob(s.rc, src)
	if err := controllerutil.SetControllerReference(s.rc, job, r.Scheme); err != nil {
		return reconcile.Result{}, err
	}
	log.FromContext(ctx).Info("Creating the restore fetch Job", "job", job.Name, "key", src.Key)
	if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		return reconcile.Result{}, fmt.Errorf("create restore Job: %w", err)
	}
	r.event(s, corev1.EventTypeNormal, "RestoreFetching", "Fetching %s (sha256 %s) onto %s", src.Key, orNone(src.SHA256), specs.PVCName(specs.RestoreMember(s.rc)))
	s.incomplete = true
	return reconcile.Result{RequeueAfter: ActedRequeue}, nil
}

// jobMessage is the termination message of the Job's container.
func (r *RaftClusterReconciler) jobMessage(ctx context.Context, job *batchv1.Job) (string, error) {
	var reader client.Reader = r.Client
	if r.JobPods != nil {
		reader = r.JobPods
	}
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "", fmt.Errorf("list restore Job pods: %w", err)
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.Message != "" {
				return t.Message, nil
			}
		}
	}
	return "", nil
}

func jobConditionTrue(job *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "not recorded"
	}
	return s
}
