// Package metrics defines the node's Prometheus collectors. The raft driver
// updates them; node/health serves the registry they are registered on.
// Names follow etcd's (etcd_disk_wal_fsync_duration_seconds and friends)
// under the kuberaft_ prefix, so etcd dashboards translate directly.
package metrics

import (
	"errors"
	"fmt"

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
}

// New creates the collectors and registers them on reg (nil: not
// registered, still usable).
func New(reg prometheus.Registerer) (*Metrics, error) {
	// Buckets from 1ms doubling to ~8s, as etcd's fsync histogram.
	disk := prometheus.ExponentialBuckets(0.001, 2, 14)
	m := &Metrics{
		FsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kuberaft", Subsystem: "disk", Name: "wal_fsync_duration_seconds",
			Help: "Time to persist one Ready's entries and hard state (one fsync).", Buckets: disk}),
		ApplyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "apply_duration_seconds",
			Help: "Time to apply one Ready's committed entries.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		SnapshotDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kuberaft", Subsystem: "disk", Name: "snapshot_save_duration_seconds",
			Help: "Time to save a state snapshot.", Buckets: disk}),
		ProposalsCommitted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "proposals_committed_total",
			Help: "Proposals of this node that were committed and applied."}),
		ProposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "proposals_failed_total",
			Help: "Proposals of this node that failed or timed out."}),
		LeaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "leader_changes_seen_total",
			Help: "Leader changes seen by this node."}),
		IsLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "is_leader",
			Help: "1 if this node is the leader."}),
		HasLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "has_leader",
			Help: "1 if this node knows a leader."}),
		AppliedIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "applied_index",
			Help: "Raft index applied to the state machine."}),
		CommittedIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "kuberaft", Subsystem: "server", Name: "committed_index",
			Help: "Raft commit index known to this node."}),
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
		m.AppliedIndex, m.CommittedIndex}
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
