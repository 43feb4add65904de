package nodetest

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
	"github.com/kuberaft/kuberaft/node/kvmodel"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode"
)

// TestAtMostOnceRetry: a mutation retried with the same (client id, seq) —
// on another member, after a leader change, after a restart — is applied
// once and answered with the first result.
func TestAtMostOnceRetry(t *testing.T) {
	c := NewCluster(t, Options{Members: 3, SnapshotCount: 20, SnapshotCatchUpEntries: 5})
	ctx := ctxFor(t, 30*time.Second)
	id := clientseq.Ident{ClientID: "clerk-1", Seq: 1}
	first, err := c.Member(0).Node().Append(clientseq.With(ctx, id), &nodepb.AppendRequest{Key: []byte("log"), Suffix: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	retried, err := c.Member(1).Node().Append(clientseq.With(ctx, id), &nodepb.AppendRequest{Key: []byte("log"), Suffix: []byte("a")})
	if err != nil || !proto.Equal(first, retried) {
		t.Fatalf("retried append = %v, %v; want the first answer %v", retried, err, first)
	}

	inc := clientseq.Ident{ClientID: "counter-1", Seq: 7}
	one, err := c.Member(2).Node().IncrementAndGet(clientseq.With(ctx, inc), &nodepb.IncrementRequest{Key: []byte("n"), Delta: 5})
	if err != nil || one.Value != 5 {
		t.Fatalf("increment = %v, %v", one, err)
	}
	// Move leadership and push the log past a snapshot: the session table
	// travels in snapshots too.
	lead := c.Leader()
	if err := c.Member(lead).Node().MoveLeader(ctx, c.Member((lead+1)%3).ID); err != nil {
		t.Fatal(err)
	}
	cl := c.NewClient(0, kvmodel.NewHistory())
	for i := range 50 {
		if !cl.Put(time.Now().Add(5*time.Second), "filler", string(rune('a'+i%26))) {
			t.Fatal("filler put failed")
		}
	}
	if err := c.Restart(lead, false); err != nil {
		t.Fatal(err)
	}
	c.waitCaughtUp(lead)
	again, err := c.Member(lead).Node().IncrementAndGet(clientseq.With(ctx, inc), &nodepb.IncrementRequest{Key: []byte("n"), Delta: 5})
	if err != nil || again.Value != 5 || again.Revision != one.Revision {
		t.Fatalf("retried increment = %v, %v; want the first answer %v", again, err, one)
	}
	// The next sequence number applies; an older one is refused.
	inc.Seq = 8
	two, err := c.Member(0).Node().IncrementAndGet(clientseq.With(ctx, inc), &nodepb.IncrementRequest{Key: []byte("n"), Delta: 5})
	if err != nil || two.Value != 10 {
		t.Fatalf("next increment = %v, %v", two, err)
	}
	inc.Seq = 7
	if _, err := c.Member(0).Node().IncrementAndGet(clientseq.With(ctx, inc), &nodepb.IncrementRequest{Key: []byte("n"), Delta: 5}); err == nil {
		t.Fatal("a stale sequence number was applied")
	}
	resp, err := c.Member(1).Node().Range(ctx, &pb.RangeRequest{Key: []byte("log")})
	if err != nil || string(resp.Kvs[0].Value) != "a" {
		t.Fatalf("log = %v, %v; want a single append", resp, err)
	}
}

// TestFenceOtherClusterData: a data dir written by another cluster is
// refused at start, and nothing is written to it.
func TestFenceOtherClusterData(t *testing.T) {
	a := NewCluster(t, Options{Members: 1})
	dir := a.Member(0).Dir
	a.Crash(0)
	b := &Cluster{t: t, opts: Options{}.withDefaults(), Net: NewNetwork(1), token: "other-cluster"}
	m := b.newMember("n0")
	m.Dir = dir
	b.initial = []raftnode.Peer{{Name: "n0", PeerURLs: []string{m.URL}}}
	var fenced *nodeerr.ErrFenced
	if err := b.Start(0, raftnode.ClusterStateNew); !errors.As(err, &fenced) {
		t.Fatalf("start on another cluster's data: %v, want ErrFenced", err)
	}
	// The original cluster's member still starts on it.
	if err := a.Start(0, raftnode.ClusterStateNew); err != nil {
		t.Fatal(err)
	}
	a.WaitLeader(5 * time.Second)
	if _, err := a.Member(0).Node().Put(context.Background(), &pb.PutRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
}
