package metrics

import (
	"testing"

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
	if got := value(t, reg, "kuberaft_server_leader_changes_seen_total"); got != 2 {
		t.Fatalf("leader changes %v, want 2", got)
	}
	if got := value(t, reg, "kuberaft_server_is_leader"); got != 0 {
		t.Fatalf("is_leader %v, want 0", got)
	}
	if got := value(t, reg, "kuberaft_server_has_leader"); got != 1 {
		t.Fatalf("has_leader %v, want 1", got)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("registering twice on one registry succeeded")
	}
	var none *Metrics
	none.SetLeader(true, true, true) // must not panic
	if families, err := reg.Gather(); err != nil || len(families) != 10 {
		t.Fatalf("gathered %d families (%v), want 10", len(families), err)
	}
}
