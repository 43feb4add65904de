package nodetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode"
)

// TestHistoryAndCompactionOnEveryMember (issue 11): every member serves
// reads at past revisions, a compaction is replicated (reads below it get
// ErrCompacted everywhere), and a member restored from a snapshot has the
// same history; Status reports an etcd 3.6 version.
func TestHistoryAndCompactionOnEveryMember(t *testing.T) {
	c := NewCluster(t, Options{Members: 3, SnapshotCount: 20, SnapshotCatchUpEntries: 5})
	ctx := ctxFor(t, 60*time.Second)
	var revs []int64
	for i := range 30 { // past a snapshot
		resp, err := c.Member(i%3).Node().Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, resp.Header.Revision)
	}
	c.CheckReplicasAgree(30 * time.Second)
	for i, m := range c.Members() {
		n := m.Node()
		got, err := n.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: revs[10], Serializable: true})
		if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v10" || got.Header.Revision != revs[29] {
			t.Fatalf("member %d: k at revision %d = %v, %v; want v10 with header revision %d", i, revs[10], got, err, revs[29])
		}
		st, err := n.EtcdStatus(ctx)
		if err != nil || st.Version != raftnode.EtcdAPIVersion {
			t.Fatalf("member %d: status version %v, %v; want %s", i, st.GetVersion(), err, raftnode.EtcdAPIVersion)
		}
	}
	if _, err := c.Member(1).Node().Compact(ctx, &pb.CompactionRequest{Revision: revs[20]}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Member(2).Node().Compact(ctx, &pb.CompactionRequest{Revision: revs[20]}); !errors.Is(err, nodeerr.ErrCompacted) {
		t.Fatalf("second compaction to the same revision: %v, want ErrCompacted", err)
	}
	c.CheckReplicasAgree(30 * time.Second)
	for i, m := range c.Members() {
		n := m.Node()
		if _, err := n.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: revs[10], Serializable: true}); !errors.Is(err, nodeerr.ErrCompacted) {
			t.Fatalf("member %d: read below the compaction: %v, want ErrCompacted", i, err)
		}
		got, err := n.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: revs[25], Serializable: true})
		if err != nil || string(got.Kvs[0].Value) != "v25" {
			t.Fatalf("member %d: read above the compaction: %v, %v", i, got, err)
		}
	}
	// A member that missed enough entries catches up from a snapshot (the
	// bbolt copy) and has the same history and compaction point.
	c.Crash(0)
	for i := 0; i < 40; {
		// Member 0 may have led: a put can meet the election; retry it
		// (it is idempotent for this test).
		_, err := c.Member(1+i%2).Node().Put(ctx, &pb.PutRequest{Key: []byte("other"), Value: []byte("x")})
		switch {
		case err == nil:
			i++
		case ctx.Err() != nil:
			t.Fatalf("writes while member 0 is down: %v", err)
		}
	}
	if err := c.Start(0, raftnode.ClusterStateExisting); err != nil {
		t.Fatal(err)
	}
	c.CheckReplicasAgree(30 * time.Second)
	n := c.Member(0).Node()
	got, err := n.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: revs[25], Serializable: true})
	if err != nil || string(got.Kvs[0].Value) != "v25" {
		t.Fatalf("caught-up member: k at revision %d = %v, %v; want v25", revs[25], got, err)
	}
	if _, err := n.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: revs[10], Serializable: true}); !errors.Is(err, nodeerr.ErrCompacted) {
		t.Fatalf("caught-up member: read below the compaction: %v, want ErrCompacted", err)
	}
}
