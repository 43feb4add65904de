package kv

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func incCmd(client string, seq uint64, key string, delta int64) *statepb.Command {
	return &statepb.Command{ClientId: client, Seq: seq, Op: &statepb.Command_Increment{Increment: &statepb.IncrementOp{Key: []byte(key), Delta: delta}}}
}

func counter(t *testing.T, s *Store, key string) string {
	t.Helper()
	got, err := s.Range(&pb.RangeRequest{Key: []byte(key)})
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("range %q: %v %v", key, got, err)
	}
	return string(got.Kvs[0].Value)
}

// A client that restarts and reuses its id from seq 1 must not be told
// that a different command succeeded (issue 8 item 10).
func TestSessionReusedIDIsRefused(t *testing.T) {
	s := newStore(t)
	if r := s.Apply(incCmd("run", 1, "n", 5)); r.Err != nil {
		t.Fatal(r.Err)
	}
	// A retry of the same command is answered from the session.
	if r := s.Apply(incCmd("run", 1, "n", 5)); r.Err != nil || r.Resp.(*nodepb.IncrementResponse).Value != 5 {
		t.Fatalf("retry = %v, %v; want the recorded 5", r.Resp, r.Err)
	}
	// A new run with the same id sends another command at seq 1.
	r := s.Apply(incCmd("run", 1, "n", 1))
	if !errors.Is(r.Err, nodeerr.ErrSequenceReused) {
		t.Fatalf("reused (id, seq) for another command = %v, %v; want ErrSequenceReused", r.Resp, r.Err)
	}
	if v := counter(t, s, "n"); v != "5" {
		t.Fatalf("counter = %s, want 5 (nothing applied twice, nothing lost silently)", v)
	}
}

// Sessions are evicted least recently used first once MaxSessions are
// held, identically on every replica and across a snapshot.
func TestSessionsEvictLRUAndSurviveSnapshot(t *testing.T) {
	s := newStore(t)
	for i := range MaxSessions {
		if r := s.Apply(incCmd(fmt.Sprintf("c%d", i), 1, "n", 1)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	// Touch c0 so that c1 is now the least recently used.
	if r := s.Apply(incCmd("c0", 2, "n", 1)); r.Err != nil {
		t.Fatal(r.Err)
	}
	restored := restoredCopy(t, s)
	for name, st := range map[string]*Store{"original": s, "restored": restored} {
		if r := st.Apply(incCmd("new", 1, "n", 1)); r.Err != nil {
			t.Fatal(r.Err)
		}
		if n := st.SessionCount(); n != MaxSessions {
			t.Fatalf("%s: %d sessions, want the cap %d", name, n, MaxSessions)
		}
		// c0 (recently used) kept: its retry is answered, not applied.
		before := counter(t, st, "n")
		if r := st.Apply(incCmd("c0", 2, "n", 1)); r.Err != nil {
			t.Fatalf("%s: c0 retry: %v", name, r.Err)
		}
		if after := counter(t, st, "n"); after != before {
			t.Fatalf("%s: c0's retry was applied again (%s -> %s)", name, before, after)
		}
		if st.sessions.get("c1") != nil {
			t.Fatalf("%s: c1, the least recently used, was not evicted", name)
		}
	}
	if !sameState(t, s, restored) {
		t.Fatal("original and restored replicas diverged after the same command")
	}
}

// A response over MaxRecordedResultBytes is not kept: the retry learns
// the command was applied, and it is not applied again.
func TestSessionResultCap(t *testing.T) {
	s := newStore(t)
	big := strings.Repeat("x", MaxRecordedResultBytes)
	mustPut(t, s, "k", big)
	// The append's response carries the whole (large) value.
	appendX := appendCmd("c", 1, "k", "x")
	if r := s.Apply(appendX); r.Err != nil {
		t.Fatal(r.Err)
	}
	rev := s.Revision()
	if r := s.Apply(appendX); !errors.Is(r.Err, nodeerr.ErrResultNotKept) {
		t.Fatalf("retry of a large result = %v, want ErrResultNotKept", r.Err)
	}
	if s.Revision() != rev {
		t.Fatal("the retry was applied again")
	}
}

func TestSessionErrorsKeepTheirSentinel(t *testing.T) {
	s := newStore(t)
	if r := s.Apply(incCmd("c", 1, "big", 1<<62)); r.Err != nil {
		t.Fatal(r.Err)
	}
	overflow := incCmd("c", 2, "big", 1<<62)
	first, again := s.Apply(overflow), s.Apply(overflow)
	if !errors.Is(first.Err, nodeerr.ErrCounterOverflow) || !errors.Is(again.Err, nodeerr.ErrCounterOverflow) {
		t.Fatalf("overflow then its retry: %v, %v; want ErrCounterOverflow twice", first.Err, again.Err)
	}
}
