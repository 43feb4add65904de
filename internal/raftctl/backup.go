package raftctl

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// BackupOptions say where `kubectl raft backup` stores the file: exactly
// one of FromSchedule (spec.backup.destination of the cluster), a PVC or an
// S3 bucket.
type BackupOptions struct {
	FromSchedule bool
	PVC          raftv1alpha1.PVCDestination
	S3           raftv1alpha1.S3Destination
}

// destination resolves the options against the cluster; the API server's
// validation (CEL on BackupDestination) checks the fields themselves.
func (o BackupOptions) destination(rc *raftv1alpha1.RaftCluster) (raftv1alpha1.BackupDestination, error) {
	chosen := 0
	for _, set := range []bool{o.FromSchedule, o.PVC.ClaimName != "", o.S3.Bucket != ""} {
		if set {
			chosen++
		}
	}
	if chosen != 1 {
		return raftv1alpha1.BackupDestination{}, fmt.Errorf("give exactly one destination: --destination-from-schedule, --pvc or --s3-bucket")
	}
	switch {
	case o.FromSchedule:
		if rc.Spec.Backup == nil {
			return raftv1alpha1.BackupDestination{}, fmt.Errorf("RaftCluster %s/%s has no spec.backup to take the destination from", rc.Namespace, rc.Name)
		}
		return rc.Spec.Backup.Destination, nil
	case o.PVC.ClaimName != "":
		pvc := o.PVC
		return raftv1alpha1.BackupDestination{PVC: &pvc}, nil
	}
	s3 := o.S3
	return raftv1alpha1.BackupDestination{S3: &s3}, nil
}

// CreateBackup creates a RaftBackup of cluster namespace/name; the
// operator takes and stores the snapshot. Its name is generated from the
// cluster's (kubectl-style "-xxxxx" suffix), so repeated calls never clash.
func (a *Actions) CreateBackup(ctx context.Context, namespace, name string, opts BackupOptions) (*raftv1alpha1.RaftBackup, error) {
	rc, err := a.get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	dest, err := opts.destination(rc)
	if err != nil {
		return nil, err
	}
	b := &raftv1alpha1.RaftBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: name + "-manual-"},
		Spec:       raftv1alpha1.RaftBackupSpec{Cluster: name, Destination: dest},
	}
	if err := a.Client.Create(ctx, b); err != nil {
		return nil, fmt.Errorf("cannot create a RaftBackup of %s/%s: %w", namespace, name, err)
	}
	return b, nil
}

// finalBackupPhase: the operator will not change the backup any more.
func finalBackupPhase(p raftv1alpha1.BackupPhase) bool {
	return p == raftv1alpha1.BackupCompleted || p == raftv1alpha1.BackupFailed
}

// WaitBackup waits until the backup reaches Completed or Failed and
// returns it; a Failed backup is returned with an error saying why.
func (a *Actions) WaitBackup(ctx context.Context, namespace, name string, timeout time.Duration) (*raftv1alpha1.RaftBackup, error) {
	b := &raftv1alpha1.RaftBackup{}
	err := wait.PollUntilContextTimeout(ctx, WaitPoll, timeout, true, func(ctx context.Context) (bool, error) {
		if err := a.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, b); err != nil {
			return false, err
		}
		return finalBackupPhase(b.Status.Phase), nil
	})
	if err != nil {
		return b, fmt.Errorf("RaftBackup %s/%s is not finished within %s (phase %q; see `kubectl describe rbk %s`): %w",
			namespace, name, timeout, b.Status.Phase, name, err)
	}
	if b.Status.Phase == raftv1alpha1.BackupFailed {
		return b, fmt.Errorf("RaftBackup %s/%s failed: %s", namespace, name, b.Status.Error)
	}
	return b, nil
}
