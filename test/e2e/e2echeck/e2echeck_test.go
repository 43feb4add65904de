package e2echeck

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kuberaft/kuberaft/node/kvmodel"
)

func TestCheckLinearizable(t *testing.T) {
	put := func(k, v string) kvmodel.Input { return kvmodel.Input{Op: kvmodel.OpPut, Key: k, Value: v} }
	get := func(k string) kvmodel.Input { return kvmodel.Input{Op: kvmodel.OpGet, Key: k} }
	type op struct {
		client    int
		in        kvmodel.Input
		call, ret int64
		out       kvmodel.Output
	}
	cases := []struct {
		name string
		ops  []op
		want porcupine.CheckResult
	}{
		{"sequential put then get", []op{
			{0, put("a", "1"), 0, 10, kvmodel.Output{}},
			{1, get("a"), 20, 30, kvmodel.Output{Value: "1"}},
		}, porcupine.Ok},
		{"stale read after acknowledged put", []op{
			{0, put("a", "1"), 0, 10, kvmodel.Output{}},
			{1, get("a"), 20, 30, kvmodel.Output{Value: ""}},
		}, porcupine.Illegal},
		{"concurrent read may see either", []op{
			{0, put("a", "1"), 0, 30, kvmodel.Output{}},
			{1, get("a"), 10, 20, kvmodel.Output{Value: ""}},
			{2, get("a"), 10, 20, kvmodel.Output{Value: "1"}},
		}, porcupine.Ok},
		{"read goes back in time", []op{
			{0, put("a", "1"), 0, 100, kvmodel.Output{}},
			{1, get("a"), 10, 20, kvmodel.Output{Value: "1"}},
			{2, get("a"), 30, 40, kvmodel.Output{Value: ""}},
		}, porcupine.Illegal},
		{"unknown put may apply late", []op{
			{0, put("a", "1"), 0, 10, kvmodel.Output{Unknown: true}},
			{1, get("a"), 20, 30, kvmodel.Output{Value: ""}},
			{1, get("a"), 40, 50, kvmodel.Output{Value: "1"}},
		}, porcupine.Ok},
		{"keys are independent", []op{
			{0, put("a", "1"), 0, 10, kvmodel.Output{}},
			{0, put("b", "2"), 20, 30, kvmodel.Output{}},
			{1, get("b"), 40, 50, kvmodel.Output{Value: "2"}},
			{1, get("a"), 60, 70, kvmodel.Output{Value: "2"}},
		}, porcupine.Illegal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := kvmodel.NewHistory()
			for _, o := range tc.ops {
				h.Add(o.client, o.in, o.out, o.call, o.ret)
			}
			viz := filepath.Join(t.TempDir(), "viz.html")
			got, err := CheckLinearizable(h.Operations(), 10*time.Second, viz)
			if err != nil {
				t.Fatal(err)
			}
			if got.Result != tc.want {
				t.Fatalf("result %s, want %s", got.Result, tc.want)
			}
		})
	}
}

func TestHistoryDropsUnknownReads(t *testing.T) {
	h := kvmodel.NewHistory()
	h.Add(0, kvmodel.Input{Op: kvmodel.OpGet, Key: "a"}, kvmodel.Output{Unknown: true}, 1, 2)
	h.Add(0, kvmodel.Input{Op: kvmodel.OpPut, Key: "a", Value: "x"}, kvmodel.Output{Unknown: true}, 3, 4)
	ops := h.Operations()
	if len(ops) != 1 || ops[0].Input.(kvmodel.Input).Op != kvmodel.OpPut {
		t.Fatalf("got %+v, want only the put", ops)
	}
	if ops[0].Return <= 4 {
		t.Fatalf("unknown put closes at %d, want +inf", ops[0].Return)
	}
}

func TestLongestGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	cases := []struct {
		name      string
		acks      []time.Time
		from, to  time.Time
		gap       time.Duration
		gapBegins time.Time
	}{
		{"no acks: the whole window", nil, at(0), at(500), 500 * time.Millisecond, at(0)},
		{"gap in the middle, unsorted", []time.Time{at(300), at(100), at(900), at(1000)}, at(0), at(1000), 600 * time.Millisecond, at(300)},
		{"gap at the end", []time.Time{at(10), at(20)}, at(0), at(100), 80 * time.Millisecond, at(20)},
		{"acks outside the window ignored", []time.Time{at(-50), at(50), at(500)}, at(0), at(100), 50 * time.Millisecond, at(0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gap, begins := LongestGap(tc.acks, tc.from, tc.to)
			if gap != tc.gap || !begins.Equal(tc.gapBegins) {
				t.Fatalf("gap %v at %v, want %v at %v", gap, begins, tc.gap, tc.gapBegins)
			}
		})
	}
}

func TestLostWrites(t *testing.T) {
	acked := map[string]string{"a": "1", "b": "2", "c": "3"}
	final := map[string]string{"a": "1", "b": "old", "d": "4"}
	if got, want := LostWrites(acked, final), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("lost %v, want %v", got, want)
	}
	if got := LostWrites(acked, map[string]string{"a": "1", "b": "2", "c": "3"}); len(got) != 0 {
		t.Fatalf("lost %v, want none", got)
	}
}

func TestForbiddenVoterCounts(t *testing.T) {
	s := func(v, out []uint64) Sample { return Sample{Voters: v, VotersOutgoing: out} }
	cases := []struct {
		name    string
		samples []Sample
		bad     int
	}{
		{"3 then joint 5&3 then 5", []Sample{s([]uint64{1, 2, 3}, nil), s([]uint64{1, 2, 3, 4, 5}, []uint64{1, 2, 3}), s([]uint64{1, 2, 3, 4, 5}, nil)}, 0},
		{"single-step add to 4", []Sample{s([]uint64{1, 2, 3}, nil), s([]uint64{1, 2, 3, 4}, nil)}, 1},
		{"joint half of 4", []Sample{s([]uint64{1, 2, 3, 4, 5}, []uint64{1, 2, 3, 4})}, 1},
		{"new member without a configuration yet", []Sample{s(nil, nil), s([]uint64{1, 2, 3}, nil)}, 0},
		{"single voter", []Sample{s([]uint64{1}, nil)}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ForbiddenVoterCounts(tc.samples, 3, 5); len(got) != tc.bad {
				t.Fatalf("%d forbidden samples (%v), want %d", len(got), got, tc.bad)
			}
		})
	}
}

func TestLeaderAt(t *testing.T) {
	t0 := time.Unix(0, 0)
	cases := []struct {
		name    string
		samples []Sample
		want    uint64
	}{
		{"none", []Sample{{Leader: 0}}, 0},
		{"highest term wins over a stale view", []Sample{{At: t0.Add(2), Leader: 1, Term: 2}, {At: t0.Add(1), Leader: 3, Term: 3}}, 3},
		{"same term: latest", []Sample{{At: t0.Add(1), Leader: 1, Term: 2}, {At: t0.Add(2), Leader: 2, Term: 2}}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := LeaderAt(tc.samples); got != tc.want {
				t.Fatalf("leader %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCheckLeaderLast(t *testing.T) {
	cases := []struct {
		name     string
		restarts []Restart
		ok       bool
	}{
		{"followers then leader after transfer", []Restart{{"p1", 2, 1}, {"p2", 3, 1}, {"p0", 1, 2}}, true},
		{"leader deleted while leading", []Restart{{"p1", 2, 1}, {"p2", 3, 1}, {"p0", 1, 1}}, false},
		{"leader not last", []Restart{{"p0", 1, 2}, {"p1", 2, 3}, {"p2", 3, 1}}, false},
		{"member restarted twice", []Restart{{"p1", 2, 1}, {"p1", 2, 1}, {"p0", 1, 2}}, false},
		{"a member never restarted", []Restart{{"p1", 2, 1}, {"p0", 1, 2}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLeaderLast(1, 3, tc.restarts)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestLeaderConfigs(t *testing.T) {
	smp := func(pod string, id, leader uint64, v, out []uint64) Sample {
		return Sample{Pod: pod, ID: id, Leader: leader, Voters: v, VotersOutgoing: out}
	}
	samples := []Sample{
		smp("p0", 1, 1, []uint64{1, 2, 3}, nil),
		smp("p1", 2, 1, []uint64{1, 2, 3}, nil),
		smp("p0", 1, 1, []uint64{1, 2, 3}, nil),
		smp("p3", 4, 0, nil, nil), // a learner without a configuration yet
		smp("p0", 1, 1, []uint64{1, 2, 3, 4}, []uint64{1, 2, 3}),
		smp("p1", 2, 1, []uint64{1, 2, 3}, nil), // a lagging follower: not the leader's view
		smp("p0", 1, 1, []uint64{1, 2, 3, 4}, nil),
		smp("p1", 2, 2, []uint64{1, 2, 3, 4}, nil), // leadership moved: same configuration
		smp("p1", 2, 2, []uint64{2, 3, 4}, nil),
	}
	// ID 3 never reported itself, so it stays an ID (hex).
	want := []string{"{3,p0,p1}", "{3,p0,p1,p3}&{3,p0,p1}", "{3,p0,p1,p3}", "{3,p1,p3}"}
	if got := LeaderConfigs(samples); !slices.Equal(got, want) {
		t.Fatalf("leader configs %v, want %v", got, want)
	}
}

func TestAfterBootstrap(t *testing.T) {
	samples := []Sample{
		{Pod: "p0", Applied: 1, Voters: []uint64{1}},       // replaying bootstrap entry 1
		{Pod: "p0", Applied: 2, Voters: []uint64{1, 2}},    // and 2
		{Pod: "p0", Applied: 3, Voters: []uint64{1, 2, 3}}, // bootstrap done
		{Pod: "p1", Applied: 900, Voters: []uint64{1, 2, 3, 4}},
	}
	kept := AfterBootstrap(samples, 3)
	if len(kept) != 2 || kept[0].Applied != 3 {
		t.Fatalf("kept %v, want the samples from applied index 3 on", kept)
	}
	if bad := ForbiddenVoterCounts(kept, 3, 5); len(bad) != 1 || bad[0].Pod != "p1" {
		t.Fatalf("forbidden %v, want only p1's 4 voters", bad)
	}
}
