package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// View is the part of a node's state that is sampled when Prometheus
// scrapes rather than updated on every change: the configuration, the
// leader's view of its learners, the data dir's size.
type View struct {
	// Joint is true while the configuration is C_old,new.
	Joint bool
	// LearnerLag is, on the leader only, how many entries each learner's
	// log trails the commit index, by learner ID.
	LearnerLag map[uint64]uint64
	// DBSizeBytes is the size of the data dir (WAL and snapshots); -1
	// when it could not be measured.
	DBSizeBytes int64
}

var (
	jointDesc = prometheus.NewDesc("kuberaft_server_joint",
		"1 while the raft configuration is joint (C_old,new): a membership change is half done.", nil, nil)
	learnerLagDesc = prometheus.NewDesc("kuberaft_server_learner_lag_entries",
		"On the leader: entries each learner's log trails the commit index; a learner is promoted once close.", []string{"learner"}, nil)
	dbSizeDesc = prometheus.NewDesc("etcd_mvcc_db_total_size_in_bytes",
		"Total size of the underlying database physically allocated in bytes (here: the WAL and snapshots of the data dir).", nil, nil)
)

// viewCollector samples a View on every scrape.
type viewCollector struct{ view func() View }

// RegisterView registers the scrape-time figures of view on reg (nil: no-op).
func RegisterView(reg prometheus.Registerer, view func() View) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(viewCollector{view}); err != nil {
		return fmt.Errorf("metrics: register view: %w", err)
	}
	return nil
}

func (c viewCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jointDesc
	ch <- learnerLagDesc
	ch <- dbSizeDesc
}

func (c viewCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.view()
	ch <- prometheus.MustNewConstMetric(jointDesc, prometheus.GaugeValue, b2f(v.Joint))
	for id, lag := range v.LearnerLag {
		ch <- prometheus.MustNewConstMetric(learnerLagDesc, prometheus.GaugeValue, float64(lag), fmt.Sprintf("%x", id))
	}
	if v.DBSizeBytes >= 0 {
		ch <- prometheus.MustNewConstMetric(dbSizeDesc, prometheus.GaugeValue, float64(v.DBSizeBytes))
	}
}

// RegisterFenced registers kuberaft_server_fenced = 1 on reg: the process
// calls it when it refuses to start, and serves /metrics through its grace
// period, so the refusal is visible to Prometheus and alerts.
func RegisterFenced(reg prometheus.Registerer) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kuberaft_server_fenced", Help: "1 while this node refuses to join its cluster (stale or foreign data); it exits after a grace period."},
		func() float64 { return 1 })
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("metrics: register fenced: %w", err)
	}
	return nil
}
