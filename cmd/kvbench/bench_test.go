package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p := summarize(lat, 3, 4, 2*time.Second)
	if p.Ops != 100 || p.Errors != 3 || p.Clients != 4 || p.OpsPerSec != 50 {
		t.Errorf("counts: %+v", p)
	}
	if p.P50Ms != 51 || p.P99Ms != 100 || p.AvgMs != 50.5 {
		t.Errorf("percentiles: p50 %v p99 %v avg %v", p.P50Ms, p.P99Ms, p.AvgMs)
	}
	if empty := summarize(nil, 5, 1, time.Second); empty.Ops != 0 || empty.OpsPerSec != 0 || empty.Errors != 5 {
		t.Errorf("empty: %+v", empty)
	}
}

func TestKeysAreDistinctAndSized(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1000 {
		k := key(16, i)
		if len(k) != 16 || seen[k] {
			t.Fatalf("key(16, %d) = %q: wrong size or repeated", i, k)
		}
		seen[k] = true
	}
}

func TestComparison(t *testing.T) {
	a := Result{Name: "raftnode", Put: Phase{Clients: 100, OpsPerSec: 3000}, SeqPut: Phase{Clients: 1, P50Ms: 2},
		Watch: Phase{Clients: 100, OpsPerSec: 900}, LeaseKeepAlive: Phase{Clients: 100, OpsPerSec: 250, Errors: 7}}
	b := Result{Name: "etcd", Put: Phase{Clients: 100, OpsPerSec: 2000}, SeqPut: Phase{Clients: 1, P50Ms: 4},
		Watch: Phase{Clients: 100, OpsPerSec: 1200}, LeaseKeepAlive: Phase{Clients: 100, OpsPerSec: 1000}}
	var out bytes.Buffer
	writeComparison(&out, a, b)
	for _, want := range []string{"ratio raftnode/etcd", "put ops/s (100 clients)", "3000.00", "2000.00", "1.50x", "0.50x", "n/a",
		"watch events/s (1 writer, 100 watchers)", "0.75x", "lease keep-alives/s (100 clients)", "0.25x", "0/0/0/0/7"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseRunRejectsBadCounts(t *testing.T) {
	if _, err := parseRun([]string{"--clients=0"}); err == nil {
		t.Error("--clients=0 accepted")
	}
	if _, err := parseRun([]string{"--key-size=4"}); err == nil {
		t.Error("--key-size=4 accepted")
	}
}

func TestMedianOverRounds(t *testing.T) {
	rs := []Result{
		{Name: "x", Put: Phase{OpsPerSec: 100, P99Ms: 9, Errors: 1}},
		{Name: "x", Put: Phase{OpsPerSec: 300, P99Ms: 1}},
		{Name: "x", Put: Phase{OpsPerSec: 200, P99Ms: 5, Errors: 2}},
	}
	m := median(rs)
	if m.Put.OpsPerSec != 200 || m.Put.P99Ms != 5 || m.Put.Errors != 3 {
		t.Errorf("median = %+v", m.Put)
	}
	if got := medianOf([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("medianOf even = %v, want 2.5", got)
	}
	if rs[0].Put.OpsPerSec != 100 {
		t.Error("median modified its input")
	}
}
