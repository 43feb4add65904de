package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/restore"
)

// reconcileState is everything one loop knows. The observe phase fills it
// once; later phases read it and only note what they did.
type reconcileState struct {
	// rc is the RaftCluster as fetched at the start of the loop.
	rc *raftv1alpha1.RaftCluster

	// Filled by observe.
	observed  bool
	sts       *appsv1.StatefulSet
	pods      map[int]*corev1.Pod
	pvcs      map[int]*corev1.PersistentVolumeClaim
	bootstrap *corev1.ConfigMap
	// statuses are the answers of the nodes, by pod name.
	statuses map[string]*nodeclient.Status
	// fencedReasons are the reasons fenced nodes give, by pod name.
	fencedReasons map[string]string
	// foreignPVCs are PVCs of an earlier RaftCluster of the same name that
	// its StatefulSet owns (reclaimPolicy Delete): going away anyway.
	foreignPVCs []*corev1.PersistentVolumeClaim
	// retainedPVCs name PVCs an earlier RaftCluster of the same name
	// retained (reclaimPolicy Retain): never deleted, never mounted.
	retainedPVCs []string
	// leader is the leader's own status (with progress), nil when unknown.
	leader *nodeclient.Status
	// obs is the planner's view of all of the above.
	obs membership.Observed
	// fenced names the pods whose node refuses to start.
	fenced []string

	// Filled by ensureCertificates: every TLS Secret's expiry (or error)
	// and whether a CA rotation is in progress.
	certs      []raftv1alpha1.CertificateStatus
	caRotating bool

	// Filled by ensureRestore (spec.bootstrap.restore only): the restore's
	// step, and whether the file is verified so the one-member bootstrap
	// may be recorded this loop.
	restore       *restore.Step
	restoreSeeded bool

	// Filled by ensureObjects: the StatefulSet size decided this loop.
	stsReplicas int

	// Filled by reconcileRecovery: the Recovering condition to write, nil
	// to leave it as it is.
	recovering *metav1.Condition

	// Filled by reconcileMembership.
	step membership.Step
	// terminal is set when the loop ended on a misconfiguration; it is
	// reported as Degraded even when the loop waits rather than fails.
	terminal error
	// incomplete is set when the loop stopped early without an error (a
	// write conflict): observedGeneration must not advance.
	incomplete bool
}

func newReconcileState(rc *raftv1alpha1.RaftCluster) *reconcileState {
	return &reconcileState{
		rc:            rc,
		pods:          map[int]*corev1.Pod{},
		pvcs:          map[int]*corev1.PersistentVolumeClaim{},
		statuses:      map[string]*nodeclient.Status{},
		fencedReasons: map[string]string{},
	}
}

// spec is the planner's view of the desired state.
func (s *reconcileState) spec() membership.Spec {
	return membership.Spec{Replicas: int(s.rc.DesiredReplicas()), Paused: s.rc.Spec.Paused, Name: s.rc.Name}
}
