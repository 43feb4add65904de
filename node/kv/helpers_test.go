package kv

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
)

// newStore returns an empty store closed (and its files removed) when the
// test ends.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// restoredCopy returns a new store restored from s's snapshot, as a member
// that catches up from a snapshot would be.
func restoredCopy(t testing.TB, s *Store) *Store {
	t.Helper()
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := newStore(t)
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	return r
}

// commitForTest flushes the backend's pending batch, so its size is current.
func (s *Store) commitForTest() { s.eng.kv.Commit() }

// waitCompactedForTest waits for the latest physical compaction.
func (s *Store) waitCompactedForTest() { <-s.CompactionDone() }

// sameState tells whether two stores hold the same replicated state: the
// metadata of their snapshots, and every key with its revisions. (The bbolt
// copies themselves may differ byte-wise.)
func sameState(t *testing.T, a, b *Store) bool {
	t.Helper()
	state := func(s *Store) (*statepb.Snapshot, *pb.RangeResponse) {
		data, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		snap := &statepb.Snapshot{}
		if err := proto.Unmarshal(data, snap); err != nil {
			t.Fatal(err)
		}
		snap.Backend = nil
		all, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
		if err != nil {
			t.Fatal(err)
		}
		return snap, all
	}
	sa, ra := state(a)
	sb, rb := state(b)
	return proto.Equal(sa, sb) && proto.Equal(ra, rb) && a.Revision() == b.Revision() && a.CompactRevision() == b.CompactRevision()
}
