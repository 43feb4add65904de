package clustermetrics

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

func cluster(op *raftv1alpha1.Operation) *raftv1alpha1.RaftCluster {
	return &raftv1alpha1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "kv"},
		Status: raftv1alpha1.RaftClusterStatus{Leader: "kv-0", FailureTolerance: 0, Operation: op, Members: []raftv1alpha1.MemberStatus{
			{Name: "kv-0", Role: raftv1alpha1.RoleLeader, Healthy: true},
			{Name: "kv-1", Role: raftv1alpha1.RoleFollower, Healthy: true},
			{Name: "kv-2", Role: raftv1alpha1.RoleFollower},
			{Name: "kv-3", Role: raftv1alpha1.RoleLearner, Healthy: true},
		}},
	}
}

func TestObserve(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)
	op := &raftv1alpha1.Operation{Type: raftv1alpha1.OperationScaleOut, Step: "AddLearners", StartedAt: metav1.NewTime(now.Add(-time.Minute))}
	Observe(cluster(op), now)
	ReconcileError("db", "kv")
	for name, want := range map[prometheus.Collector]float64{
		members.WithLabelValues("db", "kv"): 4, learners.WithLabelValues("db", "kv"): 1,
		healthyVoters.WithLabelValues("db", "kv"): 2, failureTolerance.WithLabelValues("db", "kv"): 0,
		desiredVoters.WithLabelValues("db", "kv"): 3, hasLeader.WithLabelValues("db", "kv"): 1,
		operationDuration.WithLabelValues("db", "kv"): 60, reconcileErrors.WithLabelValues("db", "kv"): 1,
		operationInFlight.WithLabelValues("db", "kv", "ScaleOut", "AddLearners"): 1,
	} {
		if got := testutil.ToFloat64(name); got != want {
			t.Errorf("%v = %v, want %v", name, got, want)
		}
	}
	// The operation ended: its series goes, the duration is 0.
	Observe(cluster(nil), now)
	if n := testutil.CollectAndCount(operationInFlight); n != 0 {
		t.Errorf("%d operation series left after it ended", n)
	}
	if got := testutil.ToFloat64(operationDuration.WithLabelValues("db", "kv")); got != 0 {
		t.Errorf("duration %v with no operation", got)
	}
	Forget("db", "kv")
	if n := testutil.CollectAndCount(members); n != 0 {
		t.Errorf("%d series left after Forget", n)
	}
}

// Names must list exactly the families the collectors export.
func TestNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors()...)
	now := time.Now()
	rc := cluster(&raftv1alpha1.Operation{Type: raftv1alpha1.OperationUpgrade, Step: "DeletePod", StartedAt: metav1.NewTime(now)})
	rc.Status.Certificates = []raftv1alpha1.CertificateStatus{{SecretName: "kv-peer-tls", NotAfter: metav1.NewTime(now)}}
	Observe(rc, now)
	ReconcileError("db", "kv")
	ObserveBackup(finished("db", "kv", raftv1alpha1.BackupCompleted, now))
	ObserveBackup(finished("db", "kv", raftv1alpha1.BackupFailed, now))
	BackupFailed("db", "kv")
	defer Forget("db", "kv")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		got = append(got, f.GetName())
	}
	want := slices.Sorted(slices.Values(Names()))
	if !slices.Equal(got, want) {
		t.Errorf("gathered %v, Names() says %v", got, want)
	}
}

func finished(ns, cluster string, phase raftv1alpha1.BackupPhase, at time.Time) *raftv1alpha1.RaftBackup {
	t := metav1.NewTime(at)
	return &raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cluster + "-x"},
		Spec: raftv1alpha1.RaftBackupSpec{Cluster: cluster}, Status: raftv1alpha1.RaftBackupStatus{Phase: phase, CompletionTime: &t}}
}

// Certificates: one series per listed Secret, expiry as Unix time, the
// invalid flag; a Secret dropped from the status loses its series.
func TestObserveCertificates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := cluster(nil)
	rc.Namespace = "certs"
	rc.Status.Certificates = []raftv1alpha1.CertificateStatus{
		{SecretName: "kv-peer-tls", NotAfter: metav1.NewTime(now.Add(time.Hour))},
		{SecretName: "kv-ca", Error: "secret not found"},
	}
	defer Forget("certs", "kv")
	Observe(rc, now)
	if got := testutil.ToFloat64(certificateExpiry.WithLabelValues("certs", "kv", "kv-peer-tls")); got != float64(now.Add(time.Hour).Unix()) {
		t.Errorf("expiry = %v", got)
	}
	if got := testutil.ToFloat64(certificateInvalid.WithLabelValues("certs", "kv", "kv-ca")); got != 1 {
		t.Errorf("kv-ca invalid = %v, want 1", got)
	}
	if got := testutil.ToFloat64(certificateInvalid.WithLabelValues("certs", "kv", "kv-peer-tls")); got != 0 {
		t.Errorf("kv-peer-tls invalid = %v, want 0", got)
	}
	rc.Status.Certificates = rc.Status.Certificates[:1]
	Observe(rc, now)
	if n := testutil.CollectAndCount(certificateInvalid); n != 1 {
		t.Errorf("%d invalid series after kv-ca left the status, want 1", n)
	}
	if n := testutil.CollectAndCount(certificateExpiry); n != 1 {
		t.Errorf("%d expiry series, want 1 (an unreadable Secret has no expiry)", n)
	}
}

// The backup gauges only move forward: re-observing an older backup (as
// every reconcile after a restart does, in any order) leaves the newest.
func TestObserveBackup(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	defer Forget("bk", "kv")
	ObserveBackup(finished("bk", "kv", raftv1alpha1.BackupCompleted, t0.Add(time.Hour)))
	ObserveBackup(finished("bk", "kv", raftv1alpha1.BackupCompleted, t0))
	ObserveBackup(finished("bk", "kv", raftv1alpha1.BackupRunning, t0.Add(2*time.Hour)))
	if got := testutil.ToFloat64(backupLastSuccess.WithLabelValues("bk", "kv")); got != float64(t0.Add(time.Hour).Unix()) {
		t.Errorf("last success = %v, want the newer backup's", got)
	}
	if n := testutil.CollectAndCount(backupLastFailure); n != 0 {
		t.Errorf("%d failure series with no failed backup", n)
	}
	ObserveBackup(finished("bk", "kv", raftv1alpha1.BackupFailed, t0.Add(3*time.Hour)))
	BackupFailed("bk", "kv")
	if got := testutil.ToFloat64(backupLastFailure.WithLabelValues("bk", "kv")); got != float64(t0.Add(3*time.Hour).Unix()) {
		t.Errorf("last failure = %v", got)
	}
	if got := testutil.ToFloat64(backupFailures.WithLabelValues("bk", "kv")); got != 1 {
		t.Errorf("failures = %v, want 1", got)
	}
}
