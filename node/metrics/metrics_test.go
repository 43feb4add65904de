package metrics

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// value gathers reg and returns the value of the named counter or gauge.
func value(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not gathered", name)
	return 0
}

func TestRegisterAndLeader(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.SetLeader(true, true, true)
	m.SetLeader(false, true, true)
	if got := value(t, reg, "etcd_server_leader_changes_seen_total"); got != 2 {
		t.Fatalf("leader changes %v, want 2", got)
	}
	if got := value(t, reg, "etcd_server_is_leader"); got != 0 {
		t.Fatalf("is_leader %v, want 0", got)
	}
	if got := value(t, reg, "etcd_server_has_leader"); got != 1 {
		t.Fatalf("has_leader %v, want 1", got)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("registering twice on one registry succeeded")
	}
	var none *Metrics
	none.SetLeader(true, true, true) // must not panic
	none.ObservePeerRoundTrip(2, time.Millisecond)
	m.SetQuota(5)
	if got := value(t, reg, "etcd_server_quota_backend_bytes"); got != 5 {
		t.Fatalf("quota %v, want 5", got)
	}
	m.ObservePeerRoundTrip(2, time.Millisecond) // a vector is gathered once it has a series
	if families, err := reg.Gather(); err != nil || len(families) != 13 {
		t.Fatalf("gathered %d families (%v), want 13", len(families), err)
	}
}

func TestViewIsSampledOnScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	v := View{LearnerLag: map[uint64]uint64{}, DBSizeBytes: -1}
	if err := RegisterView(reg, func() View { return v }); err != nil {
		t.Fatal(err)
	}
	if got := value(t, reg, "kuberaft_server_joint"); got != 0 {
		t.Fatalf("joint %v, want 0", got)
	}
	v = View{Joint: true, LearnerLag: map[uint64]uint64{0xab: 7}, DBSizeBytes: 4096}
	if got := value(t, reg, "kuberaft_server_joint"); got != 1 {
		t.Fatalf("joint %v, want 1", got)
	}
	if got := value(t, reg, "kuberaft_server_learner_lag_entries"); got != 7 {
		t.Fatalf("learner lag %v, want 7", got)
	}
	if got := value(t, reg, "etcd_mvcc_db_total_size_in_bytes"); got != 4096 {
		t.Fatalf("db size %v, want 4096", got)
	}
}

// The families etcd dashboards and our chart rely on, by etcd's names.
func TestNamesAreEtcds(t *testing.T) {
	names, err := Names()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"etcd_server_has_leader", "etcd_server_leader_changes_seen_total",
		"etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total", "etcd_server_proposals_pending",
		"etcd_server_proposals_failed_total", "etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds",
		"etcd_debugging_snap_save_total_duration_seconds", "etcd_mvcc_db_total_size_in_bytes",
		"kuberaft_server_joint", "kuberaft_server_learner_lag_entries", "kuberaft_server_fenced"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not exported; have %v", want, names)
		}
	}
}
