package proposal

import (
	"errors"
	"testing"
)

func prop(data string) Prop {
	return Prop{Data: []byte(data), Errc: make(chan error, 1)}
}

func datas(batch []Prop) []string {
	var out []string
	for _, p := range batch {
		out = append(out, string(p.Data))
	}
	return out
}

func woken(q *Queue) bool {
	select {
	case <-q.kick:
		return true
	default:
		return false
	}
}

func TestPropQueueTake(t *testing.T) {
	cases := []struct {
		name     string
		queued   []string
		maxBytes int
		want     []string
		left     int
	}{
		{name: "empty", maxBytes: 10},
		{name: "all fit", queued: []string{"ab", "cd", "ef"}, maxBytes: 6, want: []string{"ab", "cd", "ef"}},
		{name: "limit splits in order", queued: []string{"ab", "cd", "ef"}, maxBytes: 5, want: []string{"ab", "cd"}, left: 1},
		{name: "an oversized first one goes alone", queued: []string{"abcdef", "g"}, maxBytes: 3, want: []string{"abcdef"}, left: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue()
			for _, d := range tc.queued {
				q.Add(prop(d))
			}
			got := datas(q.Take(tc.maxBytes))
			if len(got) != len(tc.want) {
				t.Fatalf("take = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("take = %q, want %q", got, tc.want)
				}
			}
			if len(q.pending) != tc.left {
				t.Fatalf("%d left, want %d", len(q.pending), tc.left)
			}
		})
	}
}

// The Ready loop flushes what is queued while it is busy; proposeLoop is
// woken only when nobody else will take a proposal.
func TestPropQueueWakesOnlyWhenIdle(t *testing.T) {
	q := NewQueue()
	q.Add(prop("a"))
	if !woken(q) {
		t.Fatal("an idle queue did not wake proposeLoop")
	}
	q.Take(MaxBatchBytes)

	q.SetBusy(true)
	q.Add(prop("b"))
	if woken(q) {
		t.Fatal("woke proposeLoop while the Ready loop will flush")
	}
	q.SetBusy(false)
	if !woken(q) {
		t.Fatal("a proposal left after the Ready loop went idle was not handed to proposeLoop")
	}
	q.Take(MaxBatchBytes)
	q.SetBusy(true)
	q.SetBusy(false)
	if woken(q) {
		t.Fatal("woke proposeLoop with nothing queued")
	}
}

func TestPropQueuePutBackKeepsOrder(t *testing.T) {
	q := NewQueue()
	for _, d := range []string{"a", "b", "c"} {
		q.Add(prop(d))
	}
	woken(q)
	batch := q.Take(2)
	q.Add(prop("d"))
	q.PutBack(batch)
	if !woken(q) {
		t.Fatal("putBack did not wake proposeLoop")
	}
	got := datas(q.Take(MaxBatchBytes))
	want := []string{"a", "b", "c", "d"}
	if len(got) != len(want) {
		t.Fatalf("after putBack: %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after putBack: %q, want %q", got, want)
		}
	}
}

func TestPropQueueFailAll(t *testing.T) {
	q := NewQueue()
	ps := []Prop{prop("a"), prop("b")}
	for _, p := range ps {
		q.Add(p)
	}
	errStop := errors.New("stopped")
	q.FailAll(errStop)
	for _, p := range ps {
		select {
		case err := <-p.Errc:
			if !errors.Is(err, errStop) {
				t.Fatalf("err = %v, want %v", err, errStop)
			}
		default:
			t.Fatal("a queued proposal was not answered")
		}
	}
	if len(q.Take(MaxBatchBytes)) != 0 {
		t.Fatal("failAll left proposals queued")
	}
}

// TestPropQueueBoundsForwardedProposals: forwarded proposals have no
// waiter on the leader, so nothing held them back; the queue refuses them
// past MaxQueuedBytes (they then go to raft, which drops the excess).
func TestPropQueueBoundsForwardedProposals(t *testing.T) {
	q := NewQueue()
	chunk := []Prop{{Data: make([]byte, MaxBatchBytes)}}
	accepted := 0
	for range MaxQueuedBytes/MaxBatchBytes + 10 {
		if q.AddBounded(chunk) {
			accepted++
		}
	}
	if want := MaxQueuedBytes / MaxBatchBytes; accepted != want {
		t.Fatalf("accepted %d chunks of %d bytes, want %d (bound %d bytes)", accepted, MaxBatchBytes, want, MaxQueuedBytes)
	}
	if b := q.Take(MaxBatchBytes); len(b) != 1 || !q.AddBounded(chunk) {
		t.Fatal("taking a chunk did not make room for another")
	}
}
