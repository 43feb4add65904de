package controllers_test

import (
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

const backupSum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// newRestoreEnv is a 3-member cluster to restore from RaftBackup b1, in
// the given phase.
func newRestoreEnv(t *testing.T, phase raftv1alpha1.BackupPhase) *env {
	t.Helper()
	e := newEnv(t, 3)
	e.update(func(s *raftv1alpha1.RaftClusterSpec) {
		s.Bootstrap = &raftv1alpha1.BootstrapSpec{Restore: &raftv1alpha1.RestoreSource{Backup: "b1"}}
	})
	b := &raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: testNS},
		Spec: raftv1alpha1.RaftBackupSpec{Cluster: "old", Destination: raftv1alpha1.BackupDestination{
			S3: &raftv1alpha1.S3Destination{Endpoint: "http://s3:9000", Bucket: "b", CredentialsSecret: "creds"}}}}
	b.Status = raftv1alpha1.RaftBackupStatus{Phase: phase, Key: "p/old/b1.db", SHA256: backupSum}
	if err := e.c.Create(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	return e
}

// finishJob makes the fetch Job succeed or fail with message, as the Job
// controller and the kubelet would.
func (e *env) finishJob(ok bool, message string) {
	e.t.Helper()
	var job batchv1.Job
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: testNS, Name: "kv-restore"}, &job); err != nil {
		e.t.Fatalf("no fetch Job: %v\n%s", err, strings.Join(e.trace, "\n"))
	}
	if ok {
		job.Status.Succeeded = 1
	} else {
		job.Status.Failed = 1
	}
	if err := e.c.Status().Update(e.ctx, &job); err != nil {
		e.t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kv-restore-x", Namespace: testNS, Labels: map[string]string{batchv1.JobNameLabel: job.Name}}}
	if err := e.c.Create(e.ctx, pod); err != nil {
		e.t.Fatal(err)
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "fetch", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{Message: message}}}}
	if err := e.c.Status().Update(e.ctx, pod); err != nil {
		e.t.Fatal(err)
	}
}

// TestRestoreFromBackup: the first member's volume, then the fetch Job on
// it, then a one-member bootstrap whose pods carry the restore flags; the
// others join as learners and are promoted; Restored ends True.
func TestRestoreFromBackup(t *testing.T) {
	e := newRestoreEnv(t, raftv1alpha1.BackupCompleted)
	for range 3 {
		e.tick()
	}
	if cm := e.list(&corev1.ConfigMapList{}); len(cm) != 0 {
		t.Fatalf("bootstrap recorded before the file was fetched: %v", cm)
	}
	if c := meta.FindStatusCondition(e.get().Status.Conditions, raftv1alpha1.ConditionRestored); c == nil || c.Reason != raftv1alpha1.ReasonRestoreFetching {
		t.Errorf("Restored = %+v while fetching", c)
	}
	e.finishJob(true, `{"AppliedIndex":42,"Revision":9,"SHA256":"`+backupSum+`","location":"s3://b/p/old/b1.db"}`)
	e.tick()
	// The harness takes every pod of the namespace for a member's: the
	// Job's pod has done its part.
	if err := e.c.Delete(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kv-restore-x", Namespace: testNS}}); err != nil {
		t.Fatal(err)
	}
	e.converge(40)
	var cm corev1.ConfigMap
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: testNS, Name: "kv-bootstrap"}, &cm); err != nil {
		t.Fatal(err)
	}
	if got := e.actions(); !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "Bootstrapping a cluster of kv-0") }) {
		t.Errorf("the bootstrap was not the seeded member alone:\n%s", strings.Join(got, "\n"))
	}
	for name, pod := range e.pods() {
		args := strings.Join(pod.Spec.Containers[0].Args, " ")
		if !strings.Contains(args, "--restore-from="+specs.RestoreFile) || !strings.Contains(args, "--restore-member=kv-0") {
			t.Errorf("pod %s lacks the restore flags: %s", name, args)
		}
	}
	if c := meta.FindStatusCondition(e.get().Status.Conditions, raftv1alpha1.ConditionRestored); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Restored = %+v after the cluster formed", c)
	}
	golden(t, "restore-from-backup", e.actions())
}

// TestRestoreRefusesAFailedFetch: a failed Job is Degraded with its
// message and records no bootstrap: nothing starts on an unverified file.
func TestRestoreRefusesAFailedFetch(t *testing.T) {
	e := newRestoreEnv(t, raftv1alpha1.BackupCompleted)
	for range 3 {
		e.tick()
	}
	e.finishJob(false, "s3://b/p/old/b1.db: sha256 ffff, want 0123: refusing to restore it")
	for range 3 {
		e.tick()
	}

	if cm := e.list(&corev1.ConfigMapList{}); len(cm) != 0 {
		t.Fatalf("bootstrap recorded after a failed fetch: %v", cm)
	}
	conds := e.get().Status.Conditions
	d := meta.FindStatusCondition(conds, raftv1alpha1.ConditionDegraded)
	if d == nil || d.Status != metav1.ConditionTrue || d.Reason != raftv1alpha1.ReasonRestoreFailed || !strings.Contains(d.Message, "refusing to restore") {
		t.Errorf("Degraded = %+v", d)
	}
	if r := meta.FindStatusCondition(conds, raftv1alpha1.ConditionRestored); r == nil || r.Reason != raftv1alpha1.ReasonRestoreFailed {
		t.Errorf("Restored = %+v", r)
	}
}

// TestRestoreWaitsForTheBackup: nothing is created while the RaftBackup
// runs.
func TestRestoreWaitsForTheBackup(t *testing.T) {
	e := newRestoreEnv(t, raftv1alpha1.BackupRunning)
	for range 3 {
		e.tick()
	}
	if n := len(e.list(&corev1.PersistentVolumeClaimList{})) + len(e.list(&batchv1.JobList{})); n != 0 {
		t.Errorf("%d objects created while the backup runs", n)
	}
	if r := meta.FindStatusCondition(e.get().Status.Conditions, raftv1alpha1.ConditionRestored); r == nil || r.Reason != raftv1alpha1.ReasonRestoreWaitingForBackup {
		t.Errorf("Restored = %+v", r)
	}
}

// TestRestoreWaitsForTheJobMessage: a Job seen Succeeded before its pod's
// termination message (two informers) is still running, not a failure.
func TestRestoreWaitsForTheJobMessage(t *testing.T) {
	e := newRestoreEnv(t, raftv1alpha1.BackupCompleted)
	for range 3 {
		e.tick()
	}
	e.finishJob(true, "")
	for range 2 {
		e.tick()
	}
	conds := e.get().Status.Conditions
	if r := meta.FindStatusCondition(conds, raftv1alpha1.ConditionRestored); r == nil || r.Reason != raftv1alpha1.ReasonRestoreFetching {
		t.Errorf("Restored = %+v, want still FetchingSnapshot", r)
	}
	if meta.IsStatusConditionTrue(conds, raftv1alpha1.ConditionDegraded) {
		t.Errorf("Degraded while the message is on its way: %+v", meta.FindStatusCondition(conds, raftv1alpha1.ConditionDegraded))
	}
}

// TestRestoreReadsTheJobPodUncached: the manager caches member pods only
// (CacheOptions); the fetch Job's pod is read through JobPods.
func TestRestoreReadsTheJobPodUncached(t *testing.T) {
	e := newRestoreEnv(t, raftv1alpha1.BackupCompleted)
	for range 3 {
		e.tick()
	}
	var job batchv1.Job
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: testNS, Name: "kv-restore"}, &job); err != nil {
		t.Fatal(err)
	}
	job.Status.Succeeded = 1
	if err := e.c.Status().Update(e.ctx, &job); err != nil {
		t.Fatal(err)
	}
	msg := `{"AppliedIndex":42,"Revision":9,"SHA256":"` + backupSum + `","location":"s3://b/p/old/b1.db"}`
	e.r.JobPods = fake.NewClientBuilder().WithObjects(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kv-restore-x", Namespace: testNS, Labels: map[string]string{batchv1.JobNameLabel: job.Name}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "fetch", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{Message: msg}}}}}}).Build()
	e.tick()
	if got := strings.Join(e.actions(), "\n"); !strings.Contains(got, "Bootstrapping a cluster of kv-0") {
		t.Errorf("the verified fetch was not seen through JobPods:\n%s", got)
	}
}
