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
	Observe(cluster(&raftv1alpha1.Operation{Type: raftv1alpha1.OperationUpgrade, Step: "DeletePod", StartedAt: metav1.NewTime(now)}), now)
	ReconcileError("db", "kv")
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
