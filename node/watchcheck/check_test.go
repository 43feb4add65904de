package watchcheck

import (
	"cmp"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

func kv(key, val string, create, mod, ver int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(key), Value: []byte(val), CreateRevision: create, ModRevision: mod, Version: ver}
}

func put(k *mvccpb.KeyValue, prev *mvccpb.KeyValue) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.PUT, Kv: k, PrevKv: prev}
}

func del(key string, rev int64, prev *mvccpb.KeyValue) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}, PrevKv: prev}
}

// good is a correct history of revisions 2..5 on /a and /b.
func good() []*mvccpb.Event {
	a1, b1, a2 := kv("/a", "1", 2, 2, 1), kv("/b", "x", 3, 3, 1), kv("/a", "2", 2, 4, 2)
	return []*mvccpb.Event{put(a1, nil), put(b1, nil), put(a2, a1), del("/a", 5, a2)}
}

func TestCheck(t *testing.T) {
	acked := []Write{{Key: "/a", Value: "1", Rev: 2}, {Key: "/a", Delete: true, Rev: 5}}
	for _, tt := range []struct {
		name    string
		streams func() []Stream
		acked   []Write
		want    string // substring of the first error; "" for none
		lastRev int64  // the run's last revision; 0 means 5
	}{
		{"correct", func() []Stream {
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, PrevKV: true, Events: good()}, {Name: "w2", Prefix: "/", StartRev: 4, PrevKV: true, Events: good()[2:]}}
		}, acked, "", 0},
		{"gap", func() []Stream {
			evs := good()
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: append(evs[:1:1], evs[2:]...)}}
		}, nil, "no watcher saw revisions [3]", 0},
		{"missing in one watcher", func() []Stream {
			evs := good()
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: evs}, {Name: "w2", Prefix: "/", StartRev: 2, Events: evs[1:]}}
		}, nil, "w2: 1 events other watchers saw are missing", 0},
		{"duplicate", func() []Stream {
			evs := good()
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: append(evs[:2:2], evs[1:]...)}}
		}, nil, "out of order or duplicate", 0},
		{"reordered", func() []Stream {
			evs := good()
			evs[1], evs[2] = evs[2], evs[1]
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: evs}}
		}, nil, "out of order or duplicate", 0},
		{"wrong prev_kv", func() []Stream {
			evs := good()
			evs[2] = put(evs[2].Kv, kv("/a", "0", 2, 2, 1))
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, PrevKV: true, Events: evs}}
		}, nil, "prev_kv", 0},
		{"delete without prev_kv", func() []Stream {
			evs := good()
			evs[3] = del("/a", 5, nil)
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, PrevKV: true, Events: evs}}
		}, nil, "delete without prev_kv", 0},
		{"wrong version", func() []Stream {
			evs := good()
			evs[2] = put(kv("/a", "2", 2, 4, 3), evs[0].Kv)
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: evs}}
		}, nil, "version 3", 0},
		{"watchers disagree", func() []Stream {
			evs := good()
			other := append([]*mvccpb.Event(nil), evs...)
			other[1] = put(kv("/b", "y", 3, 3, 1), nil)
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: evs}, {Name: "w2", Prefix: "/", StartRev: 2, Events: other}}
		}, nil, "w2 saw", 0},
		{"acknowledged write lost", func() []Stream {
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: good()}}
		}, []Write{{Key: "/b", Value: "z", Rev: 6}}, "is in no watch stream", 0},
		{"acknowledged value differs", func() []Stream {
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: good()}}
		}, []Write{{Key: "/b", Value: "other", Rev: 3}}, "watchers saw", 0},
		{"one txn, two keys, not in key order", func() []Stream {
			b, a := kv("/b", "1", 2, 2, 1), kv("/a", "1", 2, 2, 1)
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, PrevKV: true, Events: []*mvccpb.Event{put(b, nil), put(a, nil)}}}
		}, nil, "", 2},
		{"one txn, same key twice", func() []Stream {
			a := kv("/a", "1", 2, 2, 1)
			return []Stream{{Name: "w1", Prefix: "/", StartRev: 2, Events: []*mvccpb.Event{put(a, nil), put(a, nil)}}}
		}, nil, "out of order or duplicate", 0},
		{"outside prefix", func() []Stream {
			return []Stream{{Name: "w1", Prefix: "/a", StartRev: 2, Events: good()}}
		}, nil, "outside prefix", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lastRev := cmp.Or(tt.lastRev, 5)
			for _, w := range tt.acked {
				lastRev = max(lastRev, w.Rev)
			}
			errs := Check(Run{Streams: tt.streams(), Acked: tt.acked, LastRev: lastRev, Gapless: true})
			if tt.want == "" {
				if len(errs) != 0 {
					t.Fatalf("want no error, got %v", errs)
				}
				return
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), tt.want) {
					return
				}
			}
			t.Fatalf("want an error containing %q, got %v", tt.want, errs)
		})
	}
}

func TestKVModel(t *testing.T) {
	for _, tt := range []struct {
		name string
		ops  []struct {
			in       Input
			out      Output
			call, rt int64
		}
		linearizable bool
	}{
		{"put then get", []struct {
			in       Input
			out      Output
			call, rt int64
		}{
			{Input{Op: OpPut, Key: 0, Value: "a"}, Output{Rev: 11}, 0, 10},
			{Input{Op: OpGet, Key: 0}, Output{Found: true, Value: "a", ModRev: 11, Rev: 11}, 20, 30},
			{Input{Op: OpDelete, Key: 1}, Output{Rev: 11}, 40, 50},
			{Input{Op: OpDelete, Key: 0}, Output{Deleted: 1, Rev: 12}, 60, 70},
		}, true},
		{"revision skipped", []struct {
			in       Input
			out      Output
			call, rt int64
		}{
			{Input{Op: OpPut, Key: 0, Value: "a"}, Output{Rev: 12}, 0, 10},
		}, false},
		{"stale read", []struct {
			in       Input
			out      Output
			call, rt int64
		}{
			{Input{Op: OpPut, Key: 0, Value: "a"}, Output{Rev: 11}, 0, 10},
			{Input{Op: OpGet, Key: 0}, Output{Rev: 10}, 20, 30},
		}, false},
		{"unknown put took effect", []struct {
			in       Input
			out      Output
			call, rt int64
		}{
			{Input{Op: OpPut, Key: 0, Value: "a"}, Output{Unknown: true}, 0, 10},
			{Input{Op: OpGet, Key: 0}, Output{Found: true, Value: "a", ModRev: 11, Rev: 11}, 20, 30},
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory()
			for _, op := range tt.ops {
				h.Add(0, op.in, op.out, op.call, op.rt)
			}
			ft := &fakeT{TB: t}
			h.CheckLinearizable(ft, 10, 5*time.Second)
			if ft.failed == tt.linearizable {
				t.Fatalf("linearizable = %v, want %v", !ft.failed, tt.linearizable)
			}
		})
	}
}

// fakeT records a Fatalf instead of ending the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}

func TestResolveUnknownPuts(t *testing.T) {
	h := NewHistory()
	h.Add(0, Input{Op: OpPut, Key: 0, Value: "seen"}, Output{Unknown: true}, 0, 10)
	h.Add(1, Input{Op: OpPut, Key: 1, Value: "lost"}, Output{Unknown: true}, 0, 10)
	h.Add(2, Input{Op: OpGet, Key: 0}, Output{Found: true, Value: "seen", ModRev: 11, Rev: 11}, 20, 30)
	resolved, dropped := h.ResolveUnknownPuts(func(in Input) (int64, bool) {
		return 11, in.Value == "seen"
	})
	if resolved != 1 || dropped != 1 || h.Len() != 2 {
		t.Fatalf("resolved %d, dropped %d, %d ops left; want 1, 1, 2", resolved, dropped, h.Len())
	}
	h.CheckLinearizable(t, 10, 5*time.Second)

	// A decided put pins its revision: the stream said 12, the read saw 11.
	h = NewHistory()
	h.Add(0, Input{Op: OpPut, Key: 0, Value: "a"}, Output{Unknown: true}, 0, 10)
	h.Add(1, Input{Op: OpGet, Key: 0}, Output{Found: true, Value: "a", ModRev: 11, Rev: 11}, 20, 30)
	h.ResolveUnknownPuts(func(Input) (int64, bool) { return 12, true })
	ft := &fakeT{TB: t}
	h.CheckLinearizable(ft, 10, 5*time.Second)
	if !ft.failed {
		t.Fatal("a put decided at revision 12 read back at 11 passed the check")
	}
}
