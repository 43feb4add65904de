// Package clustermetrics exports the operator's per-cluster gauges
// (members, healthy voters, failure tolerance, the operation in flight and
// how long it has run, reconcile errors), labelled by namespace and name,
// on controller-runtime's registry. They are set from each status the
// operator writes, so they say what `kubectl get raftcluster` says.
package clustermetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

var labels = []string{"namespace", "name"}

// The collectors; exported names are listed by Names for the chart checks.
var (
	members = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_members",
		Help: "Members of the raft configuration (voters and learners)."}, labels)
	learners = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_learners",
		Help: "Learners (non-voting members) of the raft configuration."}, labels)
	healthyVoters = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_healthy_voters",
		Help: "Voters that answered their status call."}, labels)
	desiredVoters = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_desired_voters",
		Help: "spec.replicas: the voters the cluster should have."}, labels)
	failureTolerance = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_failure_tolerance",
		Help: "How many more voters may fail without losing quorum (0: quorum at risk)."}, labels)
	hasLeader = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_has_leader",
		Help: "1 when the operator sees a leader."}, labels)
	operationInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_operation_in_flight",
		Help: "1 for the operation type (ScaleOut, ScaleIn, Upgrade, Replace) in flight, by step."}, append(labels, "type", "step"))
	operationDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_operation_duration_seconds",
		Help: "How long the operation in flight has run; 0 when none is."}, labels)
	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kuberaft_cluster_reconcile_errors_total",
		Help: "Reconcile loops of the cluster that ended in an error."}, labels)
)

func collectors() []prometheus.Collector {
	return []prometheus.Collector{members, learners, healthyVoters, desiredVoters, failureTolerance, hasLeader,
		operationInFlight, operationDuration, reconcileErrors}
}

func init() {
	ctrlmetrics.Registry.MustRegister(collectors()...)
}

// Observe sets the gauges of cluster namespace/name from rc's status as
// just written, at time now.
func Observe(rc *raftv1alpha1.RaftCluster, now time.Time) {
	l := prometheus.Labels{"namespace": rc.Namespace, "name": rc.Name}
	st := &rc.Status
	var nLearners, healthy int
	for _, m := range st.Members {
		switch {
		case m.Role == raftv1alpha1.RoleLearner:
			nLearners++
		case m.Healthy:
			healthy++
		}
	}
	members.With(l).Set(float64(len(st.Members)))
	learners.With(l).Set(float64(nLearners))
	healthyVoters.With(l).Set(float64(healthy))
	desiredVoters.With(l).Set(float64(rc.DesiredReplicas()))
	failureTolerance.With(l).Set(float64(st.FailureTolerance))
	hasLeader.With(l).Set(b2f(st.Leader != ""))
	operationInFlight.DeletePartialMatch(l)
	operationDuration.With(l).Set(0)
	if op := st.Operation; op != nil {
		operationInFlight.With(prometheus.Labels{"namespace": rc.Namespace, "name": rc.Name, "type": string(op.Type), "step": op.Step}).Set(1)
		operationDuration.With(l).Set(now.Sub(op.StartedAt.Time).Seconds())
	}
}

// ReconcileError counts a loop of namespace/name that ended in an error.
func ReconcileError(namespace, name string) {
	reconcileErrors.With(prometheus.Labels{"namespace": namespace, "name": name}).Inc()
}

// Forget drops every series of a deleted cluster.
func Forget(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "name": name}
	for _, c := range collectors() {
		if v, ok := c.(interface {
			DeletePartialMatch(prometheus.Labels) int
		}); ok {
			v.DeletePartialMatch(l)
		}
	}
}

// Names are the metric families this package exports.
func Names() []string {
	return []string{"kuberaft_cluster_members", "kuberaft_cluster_learners", "kuberaft_cluster_healthy_voters",
		"kuberaft_cluster_desired_voters", "kuberaft_cluster_failure_tolerance", "kuberaft_cluster_has_leader",
		"kuberaft_cluster_operation_in_flight", "kuberaft_cluster_operation_duration_seconds",
		"kuberaft_cluster_reconcile_errors_total"}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
