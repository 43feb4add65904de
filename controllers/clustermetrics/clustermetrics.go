// Package clustermetrics exports the operator's per-cluster gauges
// (members, healthy voters, failure tolerance, the operation in flight and
// how long it has run, reconcile errors, certificate expiry, backups),
// labelled by namespace and name (the RaftCluster's), on
// controller-runtime's registry. The cluster gauges are set from each
// status the operator writes, so they say what `kubectl get raftcluster`
// says; the backup ones from each RaftBackup the backup controller
// finishes.
package clustermetrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
	// A timestamp rather than "seconds left" (as cert-manager's
	// certmanager_certificate_expiration_timestamp_seconds): it does not go
	// stale between status writes, and alerts subtract time().
	certificateExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_certificate_expiry_timestamp_seconds",
		Help: "When the certificate of the TLS Secret expires (Unix time), from status.certificates."}, append(labels, "secret"))
	certificateInvalid = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_cluster_certificate_invalid",
		Help: "1 when the TLS Secret is unusable (missing, unparsable, wrong names); status.certificates says why."}, append(labels, "secret"))
	backupLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_backup_last_success_timestamp_seconds",
		Help: "Completion time (Unix) of the cluster's newest Completed RaftBackup the operator has seen."}, labels)
	backupLastFailure = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kuberaft_backup_last_failure_timestamp_seconds",
		Help: "Completion time (Unix) of the cluster's newest Failed RaftBackup the operator has seen."}, labels)
	backupFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kuberaft_backup_failures_total",
		Help: "RaftBackups of the cluster that the operator marked Failed."}, labels)
)

func collectors() []prometheus.Collector {
	return []prometheus.Collector{members, learners, healthyVoters, desiredVoters, failureTolerance, hasLeader,
		operationInFlight, operationDuration, reconcileErrors, certificateExpiry, certificateInvalid,
		backupLastSuccess, backupLastFailure, backupFailures}
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
	// Secrets no longer listed (TLS turned off, renamed) lose their series.
	certificateExpiry.DeletePartialMatch(l)
	certificateInvalid.DeletePartialMatch(l)
	for _, c := range st.Certificates {
		cl := prometheus.Labels{"namespace": rc.Namespace, "name": rc.Name, "secret": c.SecretName}
		certificateInvalid.With(cl).Set(b2f(c.Error != ""))
		if !c.NotAfter.IsZero() {
			certificateExpiry.With(cl).Set(float64(c.NotAfter.Unix()))
		}
	}
}

// ObserveBackup records a RaftBackup in a final phase. It may be called
// for the same backup many times (every reconcile of a finished backup,
// so the gauges come back after an operator restart): the gauges only
// move forward in time.
func ObserveBackup(b *raftv1alpha1.RaftBackup) {
	if b.Status.CompletionTime == nil {
		return
	}
	g := map[raftv1alpha1.BackupPhase]*prometheus.GaugeVec{
		raftv1alpha1.BackupCompleted: backupLastSuccess, raftv1alpha1.BackupFailed: backupLastFailure}[b.Status.Phase]
	if g == nil {
		return
	}
	backupMu.Lock()
	defer backupMu.Unlock()
	gauge := g.With(prometheus.Labels{"namespace": b.Namespace, "name": b.Spec.Cluster})
	if t := float64(b.Status.CompletionTime.Unix()); t > gaugeValue(gauge) {
		gauge.Set(t)
	}
}

// backupMu makes ObserveBackup's read-compare-set atomic across
// concurrent reconciles.
var backupMu sync.Mutex

// BackupFailed counts a backup of cluster namespace/name that just failed
// (called once, where the backup controller marks it Failed).
func BackupFailed(namespace, cluster string) {
	backupFailures.With(prometheus.Labels{"namespace": namespace, "name": cluster}).Inc()
}

// gaugeValue reads a gauge's current value (0 for a new series).
func gaugeValue(g prometheus.Gauge) float64 {
	m := &dto.Metric{}
	if err := g.Write(m); err != nil {
		return 0
	}
	return m.GetGauge().GetValue()
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
		"kuberaft_cluster_reconcile_errors_total", "kuberaft_cluster_certificate_expiry_timestamp_seconds",
		"kuberaft_cluster_certificate_invalid", "kuberaft_backup_last_success_timestamp_seconds",
		"kuberaft_backup_last_failure_timestamp_seconds", "kuberaft_backup_failures_total"}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
