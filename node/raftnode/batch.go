package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kuberaft/kuberaft/node/raftnode/proposal"
)

// The driver's side of proposal batching (node/raftnode/proposal): the
// goroutine that hands queued proposals to raft while the Ready loop is
// idle, the Ready loop's flush before Advance, and the leader's queueing
// of proposals forwarded by followers.

const (
	// loopStepTimeout bounds the Ready loop's hand-off of a batch: raft
	// takes no proposal while it knows no leader, and the loop must never
	// wait for one (it persists the votes that elect it). A batch not
	// taken in time goes back to the queue for proposeLoop.
	loopStepTimeout = 10 * time.Millisecond
)

// proposeLoop hands queued proposals to raft while the Ready loop is idle.
func (n *Node) proposeLoop() {
	for {
		select {
		case <-n.props.Kick():
		case <-n.stopc:
			n.props.FailAll(n.stopped())
			return
		}
		for batch := n.props.Take(proposal.MaxBatchBytes); len(batch) > 0; batch = n.props.Take(proposal.MaxBatchBytes) {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
			err := n.stepBatch(ctx, batch, true)
			cancel()
			proposal.Answer(batch, err)
		}
	}
}

// flushProposals is called by the Ready loop before Advance: the queued
// proposals join the next Ready. Bounded by loopStepTimeout per batch.
func (n *Node) flushProposals() {
	if n.Leader() == 0 {
		return // raft would not take them; proposeLoop waits for a leader
	}
	for batch := n.props.Take(proposal.MaxBatchBytes); len(batch) > 0; batch = n.props.Take(proposal.MaxBatchBytes) {
		ctx, cancel := context.WithTimeout(context.Background(), loopStepTimeout)
		err := n.stepBatch(ctx, batch, false)
		cancel()
		if errors.Is(err, errMaybeDropped) {
			// Raft has it, or dropped it: never propose it again.
			proposal.Answer(batch, err)
			continue
		}
		if err != nil {
			// Not handed over (raft lost its leader meanwhile): safe
			// to queue again, nothing reached raft.
			n.props.PutBack(batch)
			return
		}
		proposal.Answer(batch, nil)
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
func (n *Node) stepBatch(ctx context.Context, batch []proposal.Prop, waitResult bool) error {
	if len(batch) > 1 {
		n.props.CountBatched(len(batch))
	}
	if lead := n.Leader(); lead != 0 && lead != n.id {
		n.tr.Send([]*raftpb.Message{proposal.ForwardMsg(n.id, lead, batch)})
		return nil
	}
	if waitResult && len(batch) == 1 {
		return n.raft.Propose(ctx, batch[0].Data)
	}
	// raft.Node has no waiting multi-entry proposal, and raft drops one
	// silently during a leadership transfer: its clients then waited a
	// whole RequestTimeout when the transfer aborted (issue 8 item 16).
	// So the batch is refused when raft would drop it (checked before the
	// Step), and reported as maybe dropped — an unknown outcome, as for
	// any failed proposal — when a transfer began meanwhile (checked
	// after): only a transfer that begins and aborts between the two
	// checks could still drop it unseen.
	if !n.takesProposals() {
		return raft.ErrProposalDropped
	}
	if err := n.raft.Step(ctx, proposal.ForwardMsg(0, 0, batch)); err != nil {
		return err
	}
	if !n.takesProposals() {
		return errMaybeDropped
	}
	return nil
}

// errMaybeDropped: a batch was stepped while a leadership transfer began
// or leadership was lost; raft may have dropped it.
var errMaybeDropped = fmt.Errorf("%w: leadership changing while the batch was stepped", raft.ErrProposalDropped)

// takesProposals tells whether raft would take a proposal now: it leads
// and is not transferring leadership.
func (n *Node) takesProposals() bool {
	st := n.raft.Status()
	return st.RaftState == raft.StateLeader && st.LeadTransferee == raft.None
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
	ps := make([]proposal.Prop, 0, len(m.GetEntries()))
	for _, e := range m.GetEntries() {
		ps = append(ps, proposal.Prop{Data: e.GetData()})
	}
	return n.props.AddBounded(ps)
}
