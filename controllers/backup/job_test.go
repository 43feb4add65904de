package backup

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

func pvcBackup(name string) *raftv1alpha1.RaftBackup {
	b := newBackup(name, "c1")
	b.Spec.Destination = raftv1alpha1.BackupDestination{PVC: &raftv1alpha1.PVCDestination{ClaimName: "backups", Prefix: "pfx"}}
	return b
}

// finishJob plays the Job controller and kubelet: the job ends with the
// container's termination message msg.
func (f *fixture) finishJob(t *testing.T, name string, ok bool, msg string) {
	t.Helper()
	ctx := context.Background()
	var job batchv1.Job
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: name}, &job); err != nil {
		t.Fatalf("job %s: %v", name, err)
	}
	if ok {
		job.Status.Succeeded = 1
	} else {
		job.Status.Failed = 1
	}
	if err := f.c.Status().Update(ctx, &job); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name + "-x", Labels: map[string]string{batchv1.JobNameLabel: name}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "agent",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: msg}}}}}}
	if err := f.c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
}

func TestPVCBackupRunsTheAgentJob(t *testing.T) {
	f := newFixture(t, healthy3, pvcBackup("b1"))
	f.r.Address = func(ep nodeclient.Endpoint) string { return ep.Pod + ":2379" }
	b, res := f.drive(t, "b1", 4)
	if b.Status.Phase != raftv1alpha1.BackupRunning || res.RequeueAfter != waitForJob {
		t.Fatalf("phase %s requeue %v; want Running, waiting for the job", b.Status.Phase, res.RequeueAfter)
	}
	var job batchv1.Job
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "b1-save"}, &job); err != nil {
		t.Fatal(err)
	}
	ctr := job.Spec.Template.Spec.Containers[0]
	// c1 has TLS (the default): its members refuse a client without a
	// certificate, so the agent dials with the operator's, verifying the
	// member against the cluster's CA.
	wantArgs := []string{"backup", "save", "--dir", "/backup", "--key", "pfx/ns/c1/b1-20261128T120000Z.db", "--endpoint", "c1-1:2379",
		"--cert-file", "/tls/tls.crt", "--key-file", "/tls/tls.key", "--trusted-ca-file", "/tls/ca.crt"}
	vols := job.Spec.Template.Spec.Volumes
	if !slices.Equal(ctr.Args, wantArgs) || vols[0].PersistentVolumeClaim.ClaimName != "backups" {
		t.Fatalf("job args %v volume %+v", ctr.Args, vols[0])
	}
	if len(vols) != 2 || vols[1].Secret == nil || vols[1].Secret.SecretName != "c1-operator-tls" {
		t.Fatalf("the operator's client certificate is not mounted: %+v", vols)
	}
	if sc := job.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Fatalf("the agent must run as non-root (restricted Pod Security): %+v", sc)
	}
	if len(job.OwnerReferences) != 1 || job.OwnerReferences[0].Name != "b1" {
		t.Fatalf("job not owned by the backup: %v", job.OwnerReferences)
	}
	info := snapfile.Info{AppliedIndex: 7, Revision: 3, Size: 1056, SHA256: strings.Repeat("ab", 32)}
	msg, _ := json.Marshal(info)
	f.finishJob(t, "b1-save", true, string(msg))
	b, _ = f.drive(t, "b1", 2)
	if b.Status.Phase != raftv1alpha1.BackupCompleted || b.Status.SHA256 != info.SHA256 ||
		b.Status.Location != "pvc://backups/pfx/ns/c1/b1-20261128T120000Z.db" || b.Status.AppliedIndex != 7 {
		t.Fatalf("status %+v", b.Status)
	}

	// Deleting runs the delete job, then lets the object go.
	if err := f.c.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "ns", Name: "b1"}
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	if err != nil || res.RequeueAfter != waitForJob {
		t.Fatalf("Reconcile = %v, %v; want to wait for the delete job", res, err)
	}
	f.finishJob(t, "b1-delete", true, "")
	if _, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Get(context.Background(), key, &raftv1alpha1.RaftBackup{}); !apierrors.IsNotFound(err) {
		t.Fatalf("RaftBackup still there: %v", err)
	}
}

func TestPVCBackupJobFailureIsReported(t *testing.T) {
	f := newFixture(t, healthy3, pvcBackup("b1"))
	f.drive(t, "b1", 4)
	f.finishJob(t, "b1-save", false, "snapshot file is corrupt or truncated: SHA-256 mismatch")
	b, _ := f.drive(t, "b1", 2)
	if b.Status.Phase != raftv1alpha1.BackupFailed || !strings.Contains(b.Status.Error, "SHA-256 mismatch") {
		t.Fatalf("phase %s error %q", b.Status.Phase, b.Status.Error)
	}
}

// TestPVCBackupWaitsForTheTerminationMessage: the Job is seen Succeeded
// before its pod's termination message (two informers): the backup must
// wait for the message, not fail for want of it.
func TestPVCBackupWaitsForTheTerminationMessage(t *testing.T) {
	f := newFixture(t, healthy3, pvcBackup("b1"))
	ctx := context.Background()
	f.succeedAgentJob(t, "b1")
	if b, _ := f.drive(t, "b1", 2); b.Status.Phase != raftv1alpha1.BackupRunning {
		t.Fatalf("phase %s (%s) before the pod's message arrived; want Running", b.Status.Phase, b.Status.Error)
	}
	msg, _ := json.Marshal(snapfile.Info{AppliedIndex: 7, Size: 1056, SHA256: strings.Repeat("ab", 32)})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b1-save-x", Labels: map[string]string{batchv1.JobNameLabel: "b1-save"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "agent",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: string(msg)}}}}}}
	if err := f.c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.drive(t, "b1", 2); b.Status.Phase != raftv1alpha1.BackupCompleted {
		t.Fatalf("phase %s (%s) once the message is there; want Completed", b.Status.Phase, b.Status.Error)
	}
}

// TestPVCBackupReadsTheJobPodUncached: the manager's cache holds only
// member pods (controllers.CacheOptions), so the agent Job's pod, and its
// termination message, must be read through JobPods (the API reader);
// through the cache every PVC backup stayed Running for ever.
func TestPVCBackupReadsTheJobPodUncached(t *testing.T) {
	f := newFixture(t, healthy3, pvcBackup("b1"))
	f.succeedAgentJob(t, "b1")
	msg, _ := json.Marshal(snapfile.Info{AppliedIndex: 7, Size: 1056, SHA256: strings.Repeat("ab", 32)})
	// The pod exists only for the API reader, as for the real cache.
	f.r.JobPods = fake.NewClientBuilder().WithObjects(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b1-save-x", Labels: map[string]string{batchv1.JobNameLabel: "b1-save"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "agent",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: string(msg)}}}}}}).Build()
	if b, _ := f.drive(t, "b1", 2); b.Status.Phase != raftv1alpha1.BackupCompleted {
		t.Fatalf("phase %s (%s); want Completed from the uncached pod's message", b.Status.Phase, b.Status.Error)
	}
}

// succeedAgentJob drives backup name until its agent Job exists, then
// marks that Job Succeeded (its pod and message are up to the test).
func (f *fixture) succeedAgentJob(t *testing.T, name string) {
	t.Helper()
	f.drive(t, name, 4)
	ctx := context.Background()
	var job batchv1.Job
	if err := f.c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: name + "-save"}, &job); err != nil {
		t.Fatal(err)
	}
	job.Status.Succeeded = 1
	if err := f.c.Status().Update(ctx, &job); err != nil {
		t.Fatal(err)
	}
}
