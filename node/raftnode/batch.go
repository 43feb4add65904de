package raftnode

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Proposal batching. raft turns every MsgProp it steps into one MsgApp per
// follower (and each follower into one ack), so under many concurrent
// clients one Propose per command costs four peer messages, four raft
// steps and a channel hand-off per command. Commands proposed while the
// Ready loop persists a Ready cannot reach the followers before the next
// Ready anyway, so they wait in a queue and the loop steps them into raft
// as one multi-entry MsgProp just before Advance: they still go out with
// the next Ready, as one MsgApp per follower. When the loop is idle the
// queue is drained at once by proposeLoop, so a lone client waits no
// longer than before.
//
// Each command stays its own log entry, applied and answered exactly as
// before: the log format does not change, only how entries reach raft.
//
// Forwarding: a follower's batch goes straight to the leader through the
// transport — what raft's follower does with a MsgProp (stepFollower:
// address it to the leader, send), without waiting for the follower's
// Ready loop to finish its fsync first. A forwarded proposal promises
// nothing, so it needs no durability. The leader queues the entries of a
// forwarded MsgProp like its own (handler.Process), so the proposals of
// all members that arrive during one fsync still leave as one MsgApp.

const (
	// maxBatchBytes bounds one MsgProp (a follower forwards it whole).
	maxBatchBytes = 1 << 20
	// maxQueuedBytes bounds the queue, as raft bounds its uncommitted
	// log: forwarded proposals have no waiter here to hold them back, so
	// a flood from followers once grew the queue without limit (issue 8
	// item 16). Past it, forwarded entries go to raft, which drops what
	// exceeds its own limit.
	maxQueuedBytes = maxUncommittedBytes
	// loopStepTimeout bounds the Ready loop's hand-off of a batch: raft
	// takes no proposal while it knows no leader, and the loop must never
	// wait for one (it persists the votes that elect it). A batch not
	// taken in time goes back to the queue for proposeLoop.
	loopStepTimeout = 10 * time.Millisecond
)

// queuedProp is one command waiting to be handed to raft.
type queuedProp struct {
	data []byte
	// errc receives the outcome of the hand-off (buffered, one value):
	// nil when raft took the entry, which then commits or not, like any
	// proposal. Nil for a proposal forwarded by a follower: nobody here
	// waits for it.
	errc chan error
}

// propQueue holds proposals while the Ready loop is busy.
type propQueue struct {
	mu      sync.Mutex
	busy    bool // the Ready loop is handling a Ready
	pending []queuedProp
	bytes   int           // of pending
	kick    chan struct{} // capacity 1: wakes proposeLoop
	// batched counts proposals handed over in batches of two or more
	// (tests check that batching happens).
	batched atomic.Uint64
}

func newPropQueue() *propQueue { return &propQueue{kick: make(chan struct{}, 1)} }

// add queues p and wakes proposeLoop unless the Ready loop will flush it.
func (q *propQueue) add(p queuedProp) {
	q.mu.Lock()
	q.pending = append(q.pending, p)
	q.bytes += len(p.data)
	wake := !q.busy
	q.mu.Unlock()
	if wake {
		q.wake()
	}
}

// addBounded queues ps unless that would pass maxQueuedBytes; it tells
// whether it did.
func (q *propQueue) addBounded(ps []queuedProp) bool {
	size := 0
	for _, p := range ps {
		size += len(p.data)
	}
	q.mu.Lock()
	if q.bytes+size > maxQueuedBytes {
		q.mu.Unlock()
		return false
	}
	q.pending = append(q.pending, ps...)
	q.bytes += size
	wake := !q.busy
	q.mu.Unlock()
	if wake {
		q.wake()
	}
	return true
}

func (q *propQueue) wake() {
	select {
	case q.kick <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// setBusy records whether the Ready loop handles a Ready; when it becomes
// idle with proposals queued meanwhile, proposeLoop takes them.
func (q *propQueue) setBusy(busy bool) {
	q.mu.Lock()
	q.busy = busy
	wake := !busy && len(q.pending) > 0
	q.mu.Unlock()
	if wake {
		q.wake()
	}
}

// take removes the oldest proposals up to maxBytes (at least one).
func (q *propQueue) take(maxBytes int) []queuedProp {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.pending) && (n == 0 || size+len(q.pending[n].data) <= maxBytes) {
		size += len(q.pending[n].data)
		n++
	}
	batch := q.pending[:n:n]
	q.pending = q.pending[n:]
	q.bytes -= size
	if len(q.pending) == 0 {
		q.pending = nil // let the backing array go
	}
	return batch
}

// putBack returns a batch that raft did not take to the head of the queue.
func (q *propQueue) putBack(batch []queuedProp) {
	q.mu.Lock()
	q.pending = append(batch[:len(batch):len(batch)], q.pending...)
	for _, p := range batch {
		q.bytes += len(p.data)
	}
	q.mu.Unlock()
	q.wake()
}

// failAll answers every queued proposal with err.
func (q *propQueue) failAll(err error) {
	q.mu.Lock()
	pending := q.pending
	q.pending, q.bytes = nil, 0
	q.mu.Unlock()
	answer(pending, err)
}

// proposeLoop hands queued proposals to raft while the Ready loop is idle.
func (n *Node) proposeLoop() {
	for {
		select {
		case <-n.props.kick:
		case <-n.stopc:
			n.props.failAll(n.stopped())
			return
		}
		for batch := n.props.take(maxBatchBytes); len(batch) > 0; batch = n.props.take(maxBatchBytes) {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
			err := n.stepBatch(ctx, batch, true)
			cancel()
			answer(batch, err)
		}
	}
}

// flushProposals is called by the Ready loop before Advance: the queued
// proposals join the next Ready. Bounded by loopStepTimeout per batch.
func (n *Node) flushProposals() {
	if n.Leader() == 0 {
		return // raft would not take them; proposeLoop waits for a leader
	}
	for batch := n.props.take(maxBatchBytes); len(batch) > 0; batch = n.props.take(maxBatchBytes) {
		ctx, cancel := context.WithTimeout(context.Background(), loopStepTimeout)
		err := n.stepBatch(ctx, batch, false)
		cancel()
		if err != nil {
			// Not handed over (raft lost its leader meanwhile): safe
			// to queue again, nothing reached raft.
			n.props.putBack(batch)
			return
		}
		answer(batch, nil)
	}
}

// stepBatch hands batch to raft. A single proposal goes through Propose
// when waitResult is set, so a proposal raft drops (no leader, leadership
// transfer) fails at once with raft's error. A multi-entry MsgProp is
// stepped without waiting for raft's verdict (raft.Node offers no
// waiting multi-entry proposal); if raft drops it, its waiters end with
// the leader change that caused the drop, or their timeout — the outcome
// is "unknown" either way, as for any failed proposal. Without
// waitResult an error means raft did not receive the batch.
func (n *Node) stepBatch(ctx context.Context, batch []queuedProp, waitResult bool) error {
	if len(batch) > 1 {
		n.props.batched.Add(uint64(len(batch)))
	}
	if lead := n.Leader(); lead != 0 && lead != n.id {
		n.tr.Send([]*raftpb.Message{forwardMsg(n.id, lead, batch)})
		return nil
	}
	if waitResult && len(batch) == 1 {
		return n.raft.Propose(ctx, batch[0].data)
	}
	return n.raft.Step(ctx, forwardMsg(0, 0, batch))
}

// forwardMsg is the MsgProp raft's follower would send its leader: term
// 0 (proposals are treated as local messages), no index.
func forwardMsg(from, to uint64, batch []queuedProp) *raftpb.Message {
	ents := make([]*raftpb.Entry, len(batch))
	for i, p := range batch {
		ents[i] = &raftpb.Entry{Data: p.data}
	}
	m := &raftpb.Message{Type: raftpb.MessageType_MsgProp.Enum(), Entries: ents}
	if to != 0 {
		m.From, m.To = new(from), new(to)
	}
	return m
}

// queueForwarded queues the entries of a follower's MsgProp when this
// node leads and they are plain commands; it tells whether it did.
// Anything else is stepped into raft as before.
func (n *Node) queueForwarded(m *raftpb.Message) bool {
	if n.Leader() != n.id {
		return false
	}
	for _, e := range m.GetEntries() {
		if e.GetType() != raftpb.EntryType_EntryNormal {
			return false
		}
	}
	ps := make([]queuedProp, 0, len(m.GetEntries()))
	for _, e := range m.GetEntries() {
		ps = append(ps, queuedProp{data: e.GetData()})
	}
	return n.props.addBounded(ps)
}

func answer(batch []queuedProp, err error) {
	for _, p := range batch {
		if p.errc != nil {
			p.errc <- err
		}
	}
}
