// Package metrics defines the node's Prometheus collectors. The raft driver
// updates them; node/health serves the registry they are registered on.
//
// Where a figure means what etcd's does, it has etcd's exact name, type and
// buckets (etcd_server_has_leader, etcd_disk_wal_fsync_duration_seconds,
// ...), so existing etcd dashboards and alerts mostly work unchanged; what
// only kuberaft has is named kuberaft_*. Names() lists every family, and
// the chart's dashboard and alerts are checked against it.
package metrics

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the node's collectors. The zero value is not usable; a nil
// *Metrics is (every method is then a no-op), for nodes without a registry.
type Metrics struct {
	FsyncDuration      prometheus.Histogram
	ApplyDuration      prometheus.Histogram
	SnapshotDuration   prometheus.Histogram
	ProposalsCommitted prometheus.Counter
	ProposalsFailed    prometheus.Counter
	LeaderChanges      prometheus.Counter
	IsLeader           prometheus.Gauge
	HasLeader          prometheus.Gauge
	AppliedIndex       prometheus.Gauge
	CommittedIndex     prometheus.Gauge
	ProposalsPending   prometheus.Gauge
	PeerRoundTrip      *prometheus.HistogramVec
	QuotaBackendBytes  prometheus.Gauge
}

// New creates the collectors and registers them on reg (nil: not
// registered, still usable).
func New(reg prometheus.Registerer) (*Metrics, error) {
	// Buckets from 1ms doubling to ~8s, as etcd's fsync histogram.
	disk := prometheus.ExponentialBuckets(0.001, 2, 14)
	m := &Metrics{
		FsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "etcd", Subsystem: "disk", Name: "wal_fsync_duration_seconds",
			Help: "The latency distributions of fsync called by WAL (one per Ready that must sync).", Buckets: disk}),
		ApplyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "etcd", Subsystem: "disk", Name: "backend_commit_duration_seconds",
			// etcd times its bolt commit; our backend is the in-memory
			// state machine, committed when a Ready's entries are applied.
			Help: "The latency distributions of commit called by backend (applying one Ready's committed entries).", Buckets: disk}),
		SnapshotDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "etcd_debugging", Subsystem: "snap", Name: "save_total_duration_seconds",
			Help: "The total latency distributions of save called by snapshot.", Buckets: disk}),
		ProposalsCommitted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "local_proposals_committed_total",
			Help: "Proposals made through this node that were committed and applied."}),
		ProposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "etcd", Subsystem: "server", Name: "proposals_failed_total",
			Help: "The total number of failed proposals seen."}),
		LeaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "etcd", Subsystem: "server", Name: "leader_changes_seen_total",
			Help: "The number of leader changes seen."}),
		IsLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "etcd", Subsystem: "server", Name: "is_leader",
			Help: "Whether or not this member is a leader. 1 if is, 0 otherwise."}),
		HasLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "etcd", Subsystem: "server", Name: "has_leader",
			Help: "Whether or not a leader exists. 1 is existence, 0 is not."}),
		AppliedIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "etcd", Subsystem: "server", Name: "proposals_applied_total",
			Help: "The total number of consensus proposals applied (the applied index)."}),
		CommittedIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "etcd", Subsystem: "server", Name: "proposals_committed_total",
			Help: "The total number of consensus proposals committed (the commit index)."}),
		ProposalsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "etcd", Subsystem: "server", Name: "proposals_pending",
			Help: "The current number of pending proposals to commit."}),
		// etcd times a prober's ping over the peer connection; we time a
		// leader's heartbeat to its response, which crosses the same
		// connection both ways. Buckets are etcd's (0.1 ms doubling).
		PeerRoundTrip: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "etcd", Subsystem: "network", Name: "peer_round_trip_time_seconds",
			Help:    "Round-Trip-Time histogram between peers (leader heartbeat to its response).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"To"}),
		QuotaBackendBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "etcd", Subsystem: "server", Name: "quota_backend_bytes",
			Help: "Current backend storage quota size in bytes (--quota-backend-bytes; negative: none)."}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics: register: %w", err)
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.FsyncDuration, m.ApplyDuration, m.SnapshotDuration,
		m.ProposalsCommitted, m.ProposalsFailed, m.LeaderChanges, m.IsLeader, m.HasLeader,
		m.AppliedIndex, m.CommittedIndex, m.ProposalsPending, m.PeerRoundTrip, m.QuotaBackendBytes}
}

// ObservePeerRoundTrip records one round trip to peer to (hex ID, as etcd
// labels it).
func (m *Metrics) ObservePeerRoundTrip(to uint64, d time.Duration) {
	if m == nil {
		return
	}
	m.PeerRoundTrip.WithLabelValues(strconv.FormatUint(to, 16)).Observe(d.Seconds())
}

// SetQuota records the configured space quota.
func (m *Metrics) SetQuota(bytes int64) {
	if m == nil {
		return
	}
	m.QuotaBackendBytes.Set(float64(bytes))
}

// SetLeader records this node's view of the leader after a change.
func (m *Metrics) SetLeader(isLeader, hasLeader, changed bool) {
	if m == nil {
		return
	}
	m.IsLeader.Set(b2f(isLeader))
	m.HasLeader.Set(b2f(hasLeader))
	if changed {
		m.LeaderChanges.Inc()
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
