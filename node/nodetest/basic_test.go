package nodetest

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/kvmodel"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func TestBasicPutGet(t *testing.T) {
	c := NewCluster(t, Options{Members: 3})
	hist := kvmodel.NewHistory()
	cl := c.NewClient(0, hist)
	deadline := time.Now().Add(10 * time.Second)
	for i := range 20 {
		if !cl.Put(deadline, "k", string(rune('a'+i))) {
			t.Fatalf("put %d failed", i)
		}
		if v, ok := cl.Append(deadline, "log", "x"); !ok || len(v) != i+1 {
			t.Fatalf("append %d = %q, %v", i, v, ok)
		}
		if v, ok := cl.Get(deadline, "k"); !ok || v != string(rune('a'+i)) {
			t.Fatalf("get after put %d = %q, %v", i, v, ok)
		}
	}
	hist.CheckLinearizable(t, 10*time.Second)
	c.CheckReplicasAgree(5 * time.Second)
	// Every member applied the same state.
	c.Eventually(5*time.Second, "all members to apply", func() bool {
		var revs []int64
		for _, n := range c.Running() {
			resp, err := n.Range(context.Background(), &pb.RangeRequest{Key: []byte("k"), Serializable: true})
			if err != nil {
				return false
			}
			revs = append(revs, resp.Header.Revision)
		}
		return len(revs) == 3 && revs[0] == revs[1] && revs[1] == revs[2]
	})
}

func TestBadInputWritesNothing(t *testing.T) {
	c := NewCluster(t, Options{Members: 1})
	n := c.Member(0).Node()
	ctx := context.Background()
	// Let the start-up entries (leader's empty entry, member publish) land.
	c.Eventually(5*time.Second, "the member to publish itself", func() bool {
		resp, err := n.MemberList(ctx, &pb.MemberListRequest{})
		return err == nil && len(resp.Members) == 1 && len(resp.Members[0].ClientURLs) == 1
	})
	before := n.AppliedIndex()
	// A request's shape (empty key, txn ops, leases) is checked once, by
	// node/server before the Backend is called (its tests cover that); the
	// node itself refuses what only it can judge: entry size, membership.
	big := make([]byte, 2<<20)
	if _, err := n.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: big}); !errors.Is(err, nodeerr.ErrRequestTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	if _, err := n.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: 12345}); !errors.Is(err, nodeerr.ErrMemberNotFound) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := n.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"not a url"}}); !errors.Is(err, nodeerr.ErrInvalidChange) {
		t.Fatalf("malformed URL: %v", err)
	}
	if after := n.AppliedIndex(); after != before {
		t.Fatalf("bad input reached the log: applied %d -> %d", before, after)
	}
}
