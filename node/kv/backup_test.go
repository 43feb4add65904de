package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// TestHashKV: replicas with the same writes agree at every revision they
// hold (also after a snapshot round trip); a divergent write changes the
// hash; revisions outside the history get etcd's errors.
func TestHashKV(t *testing.T) {
	a, b := newStore(t), newStore(t)
	for _, s := range []*Store{a, b} {
		mustPut(t, s, "a", "1")
		mustPut(t, s, "b", "2")
		mustPut(t, s, "a", "3")
	}
	hash := func(s *Store, rev int64) uint32 {
		t.Helper()
		h, cur, err := s.HashKV(rev)
		if err != nil {
			t.Fatalf("HashKV(%d): %v", rev, err)
		}
		if cur != s.Revision() {
			t.Fatalf("HashKV current revision %d, store at %d", cur, s.Revision())
		}
		return h.Hash
	}
	for rev := int64(0); rev <= a.Revision(); rev++ {
		if hash(a, rev) != hash(b, rev) {
			t.Fatalf("replicas disagree at revision %d", rev)
		}
	}
	if hash(a, 2) == hash(a, 4) {
		t.Fatal("hash did not change with the key space")
	}
	data, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := newStore(t)
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	if hash(r, 0) != hash(a, 0) {
		t.Fatal("restored replica's hash differs")
	}

	before := hash(b, 0)
	mustPut(t, a, "c", "x")
	mustPut(t, b, "c", "y") // diverged at the same revision
	if hash(a, 0) == hash(b, 0) || hash(b, 0) == before {
		t.Fatal("divergent replicas hash alike")
	}

	if _, err := a.Compact(&pb.CompactionRequest{Revision: 3, Physical: true}); err != nil {
		t.Fatal(err)
	}
	a.waitCompactedForTest()
	if _, _, err := a.HashKV(2); !errors.Is(err, nodeerr.ErrCompacted) {
		t.Fatalf("HashKV below the compaction: %v, want ErrCompacted", err)
	}
	if _, _, err := a.HashKV(a.Revision() + 1); !errors.Is(err, nodeerr.ErrFutureRev) {
		t.Fatalf("HashKV past the current revision: %v, want ErrFutureRev", err)
	}
}

// TestReseed keeps the key space and makes self the only member of the new
// cluster, every other member removed for good.
func TestReseed(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "k", "v")
	s.SetClusterID(7)
	for _, id := range []uint64{1, 2} {
		if err := s.ApplyConfChange(addNode(id, false), []*statepb.Member{{Id: id, Name: "n"}}); err != nil {
			t.Fatal(err)
		}
	}
	rev := s.Revision()
	s.Reseed(&statepb.Member{Id: 9, Name: "new"}, 99)
	if s.ClusterID() != 99 || len(s.Members()) != 1 || s.Revision() != rev || s.Len() != 1 {
		t.Fatalf("after reseed: cluster %d members %d revision %d keys %d", s.ClusterID(), len(s.Members()), s.Revision(), s.Len())
	}
	if m, ok := s.Member(9); !ok || m.IsLearner {
		t.Fatalf("self = %v, %v; want a voter", m, ok)
	}
	for _, id := range []uint64{1, 2} {
		if !s.IsRemoved(id) {
			t.Fatalf("member %d not recorded as removed", id)
		}
	}
}
