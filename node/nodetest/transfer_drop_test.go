package nodetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// TestProposalsDuringAbortedTransferFailFast: raft silently drops a
// multi-entry proposal while a leadership transfer is in progress. With
// the transfer target cut off, the transfer never completes and the leader
// stays, so a client whose batched proposal was dropped waited for its
// whole request timeout (issue 8 item 16). Every write must end with an
// answer other than a timeout: applied, or refused at once.
func TestProposalsDuringAbortedTransferFailFast(t *testing.T) {
	c := NewCluster(t, Options{RequestTimeout: 20 * time.Second})
	li := c.Leader()
	lead := c.Member(li).Node()
	target := (li + 1) % 3
	var others []string
	for i, m := range c.Members() {
		if i != target {
			others = append(others, m.URL)
		}
	}
	c.Net.Partition(others, []string{c.Member(target).URL})
	moveCtx, cancelMove := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelMove()
	moved := make(chan error, 1)
	go func() { moved <- lead.MoveLeader(moveCtx, c.Member(target).ID) }()

	var wg sync.WaitGroup
	var mu sync.Mutex
	var timeouts, dropped int
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				_, err := lead.Put(ctx, &pb.PutRequest{Key: []byte(fmt.Sprintf("k%d", w)), Value: []byte(fmt.Sprint(i))})
				cancel()
				mu.Lock()
				switch {
				case errors.Is(err, nodeerr.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
					timeouts++
				case err != nil:
					dropped++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := <-moved; err == nil {
		t.Fatal("leadership moved to a partitioned member: the transfer must abort")
	}
	c.Net.Heal()
	t.Logf("%d writes refused during the transfer, %d timed out", dropped, timeouts)
	if timeouts > 0 {
		t.Fatalf("%d writes waited for their timeout: a dropped batch left its clients waiting", timeouts)
	}
}
