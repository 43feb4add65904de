package raftnode

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// TestRespAsRefusesAnotherCommandsResult: a result delivered under a
// colliding request ID is an error with an unknown outcome, not a panic.
func TestRespAsRefusesAnotherCommandsResult(t *testing.T) {
	if _, err := respAs[*pb.PutResponse](&pb.PutResponse{}); err != nil {
		t.Fatal(err)
	}
	_, err := respAs[*pb.PutResponse](&pb.DeleteRangeResponse{})
	if !errors.Is(err, nodeerr.ErrTimeout) {
		t.Fatalf("mismatched result: %v, want ErrTimeout", err)
	}
}

func TestRequestIDsAreNonZeroAndDistinct(t *testing.T) {
	g := &requestIDs{}
	g.next.Store(^uint64(0) - 1) // wraps through 0
	seen := map[uint64]bool{}
	for range 4 {
		id := g.Next()
		if id == 0 || seen[id] {
			t.Fatalf("request ID %d: zero or repeated", id)
		}
		seen[id] = true
	}
	a, b := newRequestIDs(), newRequestIDs()
	if a.Next() == b.Next() {
		t.Fatal("two generators started at the same ID")
	}
}
