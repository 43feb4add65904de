package raftnode

import (
	"context"
	"encoding/binary"
	"time"

	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// readRetryHeartbeats is how long, in heartbeats, the read loop waits for
// a ReadState before asking again with a fresh request id (raft drops
// ReadIndex requests silently, e.g. while there is no leader): 500ms at
// the default heartbeat, as etcd.
const readRetryHeartbeats = 5

// notifier wakes every reader of one ReadIndex batch with its outcome.
type notifier struct {
	c   chan struct{}
	err error
}

func newNotifier() *notifier { return &notifier{c: make(chan struct{})} }

func (nc *notifier) notify(err error) {
	nc.err = err
	close(nc.c)
}

// linearizableRead returns once this node's state is at least as new as
// the cluster's commit index at the time of the call (raft's ReadIndex,
// ReadOnlySafe: confirmed by a quorum of heartbeats). Concurrent callers
// share one ReadIndex round, as in etcd's linearizableReadLoop.
func (n *Node) linearizableRead(ctx context.Context) error {
	n.readMu.Lock()
	nc := n.readNotify
	n.readMu.Unlock()
	select {
	case n.readwaitc <- struct{}{}:
	default: // a round is already requested
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	select {
	case <-nc.c:
		return nc.err
	case <-ctx.Done():
		return n.ctxError(ctx)
	case <-n.stopc:
		return n.stopped()
	}
}

// readLoop serves batches of linearizable reads, one ReadIndex round each.
func (n *Node) readLoop() {
	for {
		select {
		case <-n.readwaitc:
		case <-n.stopc:
			return
		}
		n.readMu.Lock()
		nc := n.readNotify
		n.readNotify = newNotifier()
		n.readMu.Unlock()
		index, err := n.requestReadIndex()
		if err == nil {
			err = n.waitApplied(index)
		}
		nc.notify(err)
	}
}

// requestReadIndex asks raft for a read index. Every attempt uses a fresh
// 8-byte id (reusing one across retries returned stale indexes, etcd
// #20418 / PR #21399), and a leader change aborts the round: the index
// might come from a deposed leader.
func (n *Node) requestReadIndex() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	if err := n.waitLeader(ctx); err != nil {
		return 0, err
	}
	_, _, leaderChanged := n.leaderState()
	deadline := time.NewTimer(n.cfg.RequestTimeout)
	defer deadline.Stop()
	sent := map[uint64]bool{}
	for {
		id := n.reqIDs.Next()
		sent[id] = true
		if err := n.sendReadIndex(id); err != nil {
			return 0, err
		}
		retry := time.NewTimer(readRetryHeartbeats * n.cfg.HeartbeatInterval)
		index, done, err := n.awaitReadState(sent, retry.C, leaderChanged, deadline.C)
		retry.Stop()
		if done || err != nil {
			return index, err
		}
	}
}

func (n *Node) sendReadIndex(id uint64) error {
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], id)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	if err := n.raft.ReadIndex(ctx, rctx[:]); err != nil {
		n.lg.Debug("ReadIndex request failed", zap.Error(err))
		return n.proposeError(err)
	}
	return nil
}

// awaitReadState waits for the ReadState of one of the ids sent in this
// round; done=false means "retry with a new id".
func (n *Node) awaitReadState(sent map[uint64]bool, retry <-chan time.Time, leaderChanged <-chan struct{}, deadline <-chan time.Time) (uint64, bool, error) {
	for {
		select {
		case rs := <-n.readStateC:
			if len(rs.RequestCtx) != 8 || !sent[binary.BigEndian.Uint64(rs.RequestCtx)] {
				continue // an answer to an older round or a stale retry
			}
			return rs.Index, true, nil
		case <-leaderChanged:
			return 0, false, nodeerr.ErrLeaderChanged
		case <-retry:
			return 0, false, nil
		case <-deadline:
			return 0, false, nodeerr.ErrTimeout
		case <-n.stopc:
			return 0, false, n.stopped()
		}
	}
}

// waitApplied blocks until the state machine applied index.
func (n *Node) waitApplied(index uint64) error {
	if n.applied.Load() >= index {
		return nil
	}
	select {
	case <-n.applyWait.Wait(index):
		return nil
	case <-time.After(n.cfg.RequestTimeout):
		return nodeerr.ErrTimeout
	case <-n.stopc:
		return n.stopped()
	}
}
