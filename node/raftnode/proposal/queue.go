// Package proposal batches and forwards proposals for node/raftnode.
//
// Proposal batching. raft turns every MsgProp it steps into one MsgApp per
// follower (and each follower into one ack), so under many concurrent
// clients one Propose per command costs four peer messages, four raft
// steps and a channel hand-off per command. Commands proposed while the
// Ready loop persists a Ready cannot reach the followers before the next
// Ready anyway, so they wait in a queue and the loop steps them into raft
// as one multi-entry MsgProp just before Advance: they still go out with
// the next Ready, as one MsgApp per follower. When the loop is idle the
// queue is drained at once by the driver's proposer goroutine, so a lone client waits no
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
package proposal

import (
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
)

const (
	// MaxBatchBytes bounds one MsgProp (a follower forwards it whole).
	MaxBatchBytes = 1 << 20
	// MaxQueuedBytes bounds the queue, as raft bounds its uncommitted
	// log: forwarded proposals have no waiter here to hold them back, so
	// a flood from followers once grew the queue without limit (issue 8
	// item 16). Past it, forwarded entries go to raft, which drops what
	// exceeds its own limit.
	MaxQueuedBytes = MaxUncommittedBytes
	// MaxUncommittedBytes bounds raft's uncommitted log (the driver sets
	// raft.Config.MaxUncommittedEntriesSize to it; raft drops proposals
	// past it) and the queue.
	MaxUncommittedBytes = 1 << 26
)

// Prop is one command waiting to be handed to raft.
type Prop struct {
	Data []byte
	// Errc receives the outcome of the hand-off (buffered, one value):
	// nil when raft took the entry, which then commits or not, like any
	// proposal. Nil for a proposal forwarded by a follower: nobody here
	// waits for it.
	Errc chan error
}

// Queue holds proposals while the Ready loop is busy.
type Queue struct {
	mu      sync.Mutex
	busy    bool // the Ready loop is handling a Ready
	pending []Prop
	bytes   int           // of pending
	kick    chan struct{} // capacity 1: wakes proposeLoop
	// batched counts proposals handed over in batches of two or more
	// (tests check that batching happens).
	batched atomic.Uint64
}

// NewQueue returns an empty queue.
func NewQueue() *Queue { return &Queue{kick: make(chan struct{}, 1)} }

// Add queues p and wakes proposeLoop unless the Ready loop will flush it.
func (q *Queue) Add(p Prop) {
	q.mu.Lock()
	q.pending = append(q.pending, p)
	q.bytes += len(p.Data)
	wake := !q.busy
	q.mu.Unlock()
	if wake {
		q.wake()
	}
}

// AddBounded queues ps unless that would pass MaxQueuedBytes; it tells
// whether it did.
func (q *Queue) AddBounded(ps []Prop) bool {
	size := 0
	for _, p := range ps {
		size += len(p.Data)
	}
	q.mu.Lock()
	if q.bytes+size > MaxQueuedBytes {
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

func (q *Queue) wake() {
	select {
	case q.kick <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// SetBusy records whether the Ready loop handles a Ready; when it becomes
// idle with proposals queued meanwhile, proposeLoop takes them.
func (q *Queue) SetBusy(busy bool) {
	q.mu.Lock()
	q.busy = busy
	wake := !busy && len(q.pending) > 0
	q.mu.Unlock()
	if wake {
		q.wake()
	}
}

// Take removes the oldest proposals up to maxBytes (at least one).
func (q *Queue) Take(maxBytes int) []Prop {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.pending) && (n == 0 || size+len(q.pending[n].Data) <= maxBytes) {
		size += len(q.pending[n].Data)
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

// PutBack returns a batch that raft did not take to the head of the queue.
func (q *Queue) PutBack(batch []Prop) {
	q.mu.Lock()
	q.pending = append(batch[:len(batch):len(batch)], q.pending...)
	for _, p := range batch {
		q.bytes += len(p.Data)
	}
	q.mu.Unlock()
	q.wake()
}

// FailAll answers every queued proposal with err.
func (q *Queue) FailAll(err error) {
	q.mu.Lock()
	pending := q.pending
	q.pending, q.bytes = nil, 0
	q.mu.Unlock()
	Answer(pending, err)
}

// proposeLoop hands queued proposals to raft while the Ready loop is idle.
// Kick is signalled when proposals wait and the Ready loop is idle: the
// proposer goroutine should Take them.
func (q *Queue) Kick() <-chan struct{} { return q.kick }

// CountBatched records n proposals handed over as one batch.
func (q *Queue) CountBatched(n int) { q.batched.Add(uint64(n)) }

// Batched is how many proposals went to raft in batches of two or more.
func (q *Queue) Batched() uint64 { return q.batched.Load() }

// ForwardMsg is the MsgProp raft's follower would send its leader: term
// 0 (proposals are treated as local messages), no index.
func ForwardMsg(from, to uint64, batch []Prop) *raftpb.Message {
	ents := make([]*raftpb.Entry, len(batch))
	for i, p := range batch {
		ents[i] = &raftpb.Entry{Data: p.Data}
	}
	m := &raftpb.Message{Type: raftpb.MessageType_MsgProp.Enum(), Entries: ents}
	if to != 0 {
		m.From, m.To = new(from), new(to)
	}
	return m
}

// Answer tells every waiting proposer of batch the outcome of its
// hand-off.
func Answer(batch []Prop, err error) {
	for _, p := range batch {
		if p.Errc != nil {
			p.Errc <- err
		}
	}
}
