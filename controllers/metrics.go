package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/clustermetrics"
	"github.com/kuberaft/kuberaft/controllers/membership"
)

// Operator metrics, on controller-runtime's registry (served by the
// manager's metrics endpoint next to controller_runtime_reconcile_*).
var (
	phaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kuberaft_operator_phase_duration_seconds",
		Help:    "Duration of each reconcile phase.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"phase"})
	phaseErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kuberaft_operator_phase_errors_total",
		Help: "Reconcile phases that ended in an error.",
	}, []string{"phase"})
	membershipChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kuberaft_operator_membership_changes_total",
		Help: "Steps taken on clusters (AddLearners, Promote, Remove, MoveLeader, DeletePod, WipeVolume) by result.",
	}, []string{"action", "result"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(phaseDuration, phaseErrors, membershipChanges)
}

func observePhase(name string, start time.Time, err error) {
	phaseDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		phaseErrors.WithLabelValues(name).Inc()
	}
}

func countChange(action membership.Action, err error) {
	result := "success"
	if err != nil {
		result = "error"
	}
	membershipChanges.WithLabelValues(string(action), result).Inc()
}

// observeClusterMetrics sets the per-cluster gauges from the status just
// written (see controllers/clustermetrics).
func observeClusterMetrics(rc *raftv1alpha1.RaftCluster, written *raftv1alpha1.RaftClusterStatus, now time.Time) {
	if written == nil {
		return
	}
	cur := rc.DeepCopy()
	cur.Status = *written
	clustermetrics.Observe(cur, now)
}
