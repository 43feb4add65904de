package raftnode_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/raftnode"
)

// Many concurrent writers through every member: proposals are batched
// (batch.go), yet each command is applied once, in one order, and each
// caller gets its own result — the increments return every value from 1
// to the total exactly once.
func TestConcurrentProposalsAreBatchedAndEachAnswered(t *testing.T) {
	var members []*grpcMember
	var initial []raftnode.Peer
	for i := range 3 {
		l, u := listen(t)
		m := &grpcMember{name: fmt.Sprintf("b%d", i), url: u, dir: t.TempDir(), lis: l}
		members = append(members, m)
		initial = append(initial, raftnode.Peer{Name: m.name, PeerURLs: []string{u}})
	}
	for _, m := range members {
		if err := startGRPCMember(t, m, initial, raftnode.ClusterStateNew, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, m := range members {
			stopMember(t, m)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, "a writable cluster", func() bool {
		_, err := members[0].node.IncrementAndGet(ctx, &nodepb.IncrementRequest{Key: []byte("warmup"), Delta: 1})
		return err == nil
	})

	const writers, each = 48, 20
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		errs []error
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			n := members[w%3].node
			for range each {
				resp, err := n.IncrementAndGet(ctx, &nodepb.IncrementRequest{Key: []byte("ctr"), Delta: 1})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					seen[resp.Value]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d increments failed, first: %v", len(errs), errs[0])
	}
	for v := int64(1); v <= writers*each; v++ {
		if seen[v] != 1 {
			t.Fatalf("value %d returned %d times, want once", v, seen[v])
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct values, want %d", len(seen), writers*each)
	}
	var batched uint64
	for _, m := range members {
		batched += m.node.BatchedProposals()
	}
	if batched == 0 {
		t.Fatal("no proposal was batched under 48 concurrent writers")
	}
	t.Logf("%d of %d proposals went to raft in batches", batched, writers*each)
}
