package raftnode

import (
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// run is the Ready loop: the only goroutine that touches raft storage,
// the WAL and the state machine's writes.
func (n *Node) run() {
	ticker := time.NewTicker(n.cfg.HeartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.raft.Tick()
		case rd := <-n.raft.Ready():
			// Only a leader holds proposals back for its next Ready; a
			// follower forwards them at once (batch.go).
			n.props.SetBusy(n.Leader() == n.id)
			err := n.handleReady(rd)
			n.props.SetBusy(false)
			if err != nil {
				n.fail(err)
				return
			}
		case reply := <-n.captureC:
			reply <- n.capture()
		case p := <-n.snapDone:
			if err := n.finishSnapshot(p); err != nil {
				n.fail(err)
				return
			}
		case <-n.stopc:
			return
		}
	}
}

// handleReady processes one Ready in the order raft's doc.go ("Usage")
// and etcd's raftNode.start (server/etcdserver/raft.go) prescribe:
//
//  1. A leader sends its messages first: it may write to disk in parallel
//     with its followers (Raft thesis §10.2.1).
//  2. Persist the snapshot (file, then WAL record), then entries and hard
//     state — one WAL write, fsynced when rd.MustSync.
//  3. Install the snapshot and append the entries to raft's memory log.
//  4. A follower sends only now, after its hard state and entries are
//     durable (a vote or an append ack must survive a crash) — except the
//     proposals and read requests it forwards, which promise nothing and
//     go out with step 1 — and, when
//     the Ready commits a conf change — only after applying it, so votes
//     are counted in the right configuration (etcd does the same).
//  5. Apply committed entries; clients are answered here. Like etcd, the
//     apply runs in parallel with step 2 when every committed entry is
//     already durable here (written by an earlier Ready): a write then
//     does not wait for the fsync of the next batch. When a committed
//     entry is in this Ready's Entries — always so with one voter, where
//     raft hands the same entries as Entries and CommittedEntries — the
//     apply waits for step 2: etcd #14370 lost acknowledged writes by
//     answering before they were on disk.
//  6. Start a snapshot every SnapshotCount entries (finished later, see
//     maybeSnapshot), then Advance.
func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		n.updateLeader(rd.SoftState.Lead, rd.HardState.GetTerm())
	} else if rd.HardState != nil {
		n.updateTerm(rd.HardState.GetTerm())
	}
	n.forwardReadStates(rd.ReadStates)
	isLeader := n.Leader() == n.id
	n.refreshSnapshots(rd.Messages)
	msgs := rd.Messages
	if isLeader {
		n.rtt.sent(msgs)
		n.tr.Send(msgs)
	} else {
		// Forwarded requests promise nothing about our log or vote, so
		// they need not wait for the fsync: a follower's client request
		// reaches the leader half an fsync sooner on average.
		var forwards []*raftpb.Message
		forwards, msgs = splitForwards(msgs)
		n.tr.Send(forwards)
	}
	var early chan error
	if raft.IsEmptySnap(rd.Snapshot) && alreadyDurable(rd.CommittedEntries, rd.Entries) {
		early = make(chan error, 1)
		go func() { early <- n.applyEntries(rd.CommittedEntries) }()
	}
	if err := n.persist(rd); err != nil {
		if early != nil {
			<-early // never leave an apply running behind a failed loop
		}
		return err
	}
	confChange := hasConfChange(rd.CommittedEntries)
	if !isLeader && !confChange {
		n.tr.Send(msgs)
	}
	var err error
	if early != nil {
		err = <-early
	} else {
		err = n.applyEntries(rd.CommittedEntries)
	}
	if err != nil {
		return err
	}
	if !isLeader && confChange {
		n.tr.Send(msgs)
	}
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	// Proposals queued during this Ready join the next one (batch.go).
	n.flushProposals()
	n.raft.Advance()
	return nil
}

// splitForwards separates the proposals and read-index requests a
// follower forwards to the leader from the messages that must wait until
// the Ready is durable (acks, votes, vote requests, heartbeat replies).
func splitForwards(msgs []*raftpb.Message) (forwards, rest []*raftpb.Message) {
	for _, m := range msgs {
		switch m.GetType() {
		case raftpb.MessageType_MsgProp, raftpb.MessageType_MsgReadIndex:
			forwards = append(forwards, m)
		default:
			rest = append(rest, m)
		}
	}
	return forwards, rest
}

// alreadyDurable tells whether every committed entry precedes this Ready's
// unstable entries, i.e. was persisted by an earlier Ready (each Ready is
// persisted before Advance). Committed entries never conflict with newer
// ones, so index order is enough.
func alreadyDurable(committed, unstable []*raftpb.Entry) bool {
	if len(committed) == 0 {
		return false // nothing to apply early
	}
	return len(unstable) == 0 || committed[len(committed)-1].GetIndex() < unstable[0].GetIndex()
}

func (n *Node) persist(rd raft.Ready) error {
	hasSnap := !raft.IsEmptySnap(rd.Snapshot)
	if hasSnap {
		if err := n.disk.SaveSnap(rd.Snapshot); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := n.disk.Save(rd.HardState, rd.Entries); err != nil {
		return fmt.Errorf("raftnode: save WAL: %w", err)
	}
	if rd.MustSync {
		n.metrics.FsyncDuration.Observe(time.Since(start).Seconds())
	}
	if rd.HardState != nil {
		n.committed.Store(rd.HardState.GetCommit())
		n.metrics.CommittedIndex.Set(float64(rd.HardState.GetCommit()))
	}
	if hasSnap {
		if err := n.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	if err := n.ms.Append(rd.Entries); err != nil {
		return fmt.Errorf("raftnode: append to memory log: %w", err)
	}
	return nil
}

// installSnapshot replaces the state machine with a snapshot received from
// the leader.
func (n *Node) installSnapshot(snap *raftpb.Snapshot) error {
	start := time.Now()
	// Force the WAL to disk before releasing older segments (etcd #10219).
	if err := n.disk.Sync(); err != nil {
		return fmt.Errorf("raftnode: sync WAL: %w", err)
	}
	if err := n.ms.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("raftnode: apply snapshot to memory log: %w", err)
	}
	idx := snap.Metadata.GetIndex()
	if err := n.kv.InstallSnapshot(snap.Data, idx, snap.Metadata.GetTerm()); err != nil {
		return err
	}
	n.setConfState(snap.Metadata.GetConfState())
	n.syncPeers()
	n.snapIndex = idx
	n.setApplied(idx)
	n.lg.Info("Installed snapshot from leader", zap.Uint64("index", idx), zap.Duration("took", time.Since(start)))
	if n.isGone(n.id) {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("member %x was removed from the cluster", n.id)}
	}
	return n.disk.Release(snap)
}

// refreshSnapshots replaces the stored snapshot of each outgoing MsgSnap
// with the metadata as applied now, and its ConfState, as etcd does
// (createMergedSnapshotMessage). The stored snapshot can predate the conf
// change that added the receiver, and a follower refuses a snapshot whose
// ConfState does not include it ("attempted to restore snapshot but it is
// not in the ConfState"). Metadata and ConfState are read together in the
// Ready loop, so they are consistent; the applied index is at least the
// stored snapshot's. The key space is not in the message: the transport
// streams the bbolt file after it (handler.OpenSnapshotDB), opened later,
// so at an index at least this one; the follower skips the key-space part
// of the entries in between (kv.ApplyEntry).
func (n *Node) refreshSnapshots(msgs []*raftpb.Message) {
	for _, m := range msgs {
		if m.GetType() != raftpb.MessageType_MsgSnap {
			continue
		}
		applied := n.applied.Load()
		term, err := n.ms.Term(applied)
		if err != nil {
			n.lg.Warn("Sending the stored snapshot", zap.Error(err))
			continue
		}
		data, err := n.kv.Metadata()
		if err != nil {
			n.lg.Warn("Sending the stored snapshot", zap.Error(err))
			continue
		}
		m.Snapshot = &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
			Index: new(applied), Term: new(term), ConfState: n.currentConfState()}}
	}
}

func hasConfChange(ents []*raftpb.Entry) bool {
	for _, e := range ents {
		if t := e.GetType(); t == raftpb.EntryType_EntryConfChange || t == raftpb.EntryType_EntryConfChangeV2 {
			return true
		}
	}
	return false
}

func (n *Node) applyEntries(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	start := time.Now()
	var removedSelf bool
	for _, e := range ents {
		if e.GetIndex() <= n.applied.Load() {
			continue // already in the state (restored snapshot): apply is idempotent
		}
		switch e.GetType() {
		case raftpb.EntryType_EntryNormal:
			n.applyNormal(e)
		default:
			removedSelf = n.applyConfChange(e) || removedSelf
		}
		n.kv.MarkApplied(e.GetIndex(), e.GetTerm())
		n.applied.Store(e.GetIndex())
	}
	n.setApplied(n.applied.Load())
	n.metrics.ApplyDuration.Observe(time.Since(start).Seconds())
	if removedSelf {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("member %x was removed from the cluster", n.id)}
	}
	return nil
}

func (n *Node) setApplied(idx uint64) {
	n.applied.Store(idx)
	n.metrics.AppliedIndex.Set(float64(idx))
	n.applyWait.Trigger(idx)
}

func (n *Node) applyNormal(e *raftpb.Entry) {
	if len(e.Data) == 0 {
		// A new leader's empty entry: once it is applied, the leader has
		// applied everything before its term and may expire leases (etcd
		// promotes its lessor here too).
		if n.Leader() == n.id {
			n.kv.PromoteLeases(n.cfg.ElectionTimeout)
		}
		return
	}
	cmd := &statepb.Command{}
	if err := proto.Unmarshal(e.Data, cmd); err != nil {
		// Every replica sees the same bytes and skips them alike.
		n.lg.Error("Skipping undecodable entry", zap.Uint64("index", e.GetIndex()), zap.Error(err))
		return
	}
	res := n.kv.ApplyEntry(e.GetIndex(), e.GetTerm(), cmd)
	if cmd.RequestId != 0 {
		n.wait.Trigger(cmd.RequestId, res)
	}
}

// confChangeResult is what a ChangeMembers proposer receives.
type confChangeResult struct {
	cs  *raftpb.ConfState
	err error
}

// applyConfChange applies a conf-change entry to the member metadata and to
// raft. A change the state machine refuses (e.g. an ID that was removed
// meanwhile) is cancelled by zeroing its node IDs, which raft ignores — the
// decision depends only on replicated state, as raft requires. It reports
// whether this member was removed.
func (n *Node) applyConfChange(e *raftpb.Entry) bool {
	cc, added, reqID, err := decodeConfChange(e)
	if err != nil {
		n.lg.Error("Skipping undecodable conf change", zap.Uint64("index", e.GetIndex()), zap.Error(err))
		cc = &raftpb.ConfChangeV2{}
		if n.isJoint() {
			// An empty change leaves a joint config; outside one, raft
			// would refuse it, so apply nothing at all.
			cc = nil
		}
	}
	var applyErr error
	if cc != nil {
		if applyErr = n.kv.ApplyConfChange(cc, added); applyErr != nil {
			n.lg.Warn("Cancelling refused conf change", zap.Uint64("index", e.GetIndex()), zap.Error(applyErr))
			for _, ch := range cc.Changes {
				ch.NodeId = new(uint64(0))
			}
		}
		n.setConfState(n.raft.ApplyConfChange(cc))
		n.updatePeers()
	}
	if reqID != 0 {
		n.wait.Trigger(reqID, confChangeResult{cs: n.currentConfState(), err: applyErr})
	}
	if n.cfg.OnApplyConfChange != nil {
		n.cfg.OnApplyConfChange(n.currentConfState())
	}
	return n.isGone(n.id)
}

// isGone tells whether id was removed and is in no part of the applied
// configuration any more (not even the outgoing half of a joint one).
func (n *Node) isGone(id uint64) bool {
	if !n.kv.IsRemoved(id) {
		return false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	cs := n.confState
	for _, set := range [][]uint64{cs.GetVoters(), cs.GetVotersOutgoing(), cs.GetLearners(), cs.GetLearnersNext()} {
		if slices.Contains(set, id) {
			return false
		}
	}
	return true
}

// updatePeers connects added members and disconnects removed ones once
// they left the configuration entirely (an outgoing voter of a joint
// configuration must still be reached).
func (n *Node) updatePeers() { n.syncPeers() }

// syncPeers makes the transport reach every member of the applied state
// and configuration: members, and removed members still in the outgoing
// half of a joint configuration; members gone for good are dropped.
func (n *Node) syncPeers() {
	for _, m := range n.kv.Members() {
		n.addPeer(m.Id, m.PeerUrls)
	}
	for _, id := range n.kv.Removed() {
		if id == n.id {
			continue
		}
		if n.isGone(id) {
			n.tr.RemovePeer(id)
		} else if m, ok := n.kv.RemovedMember(id); ok {
			n.addPeer(id, m.PeerUrls)
		}
	}
}

// decodeConfChange decodes a V1 (bootstrap; Context is a statepb.Member)
// or V2 (ChangeMembers; Context is a statepb.ConfChangeContext) entry.
func decodeConfChange(e *raftpb.Entry) (*raftpb.ConfChangeV2, []*statepb.Member, uint64, error) {
	switch e.GetType() {
	case raftpb.EntryType_EntryConfChange:
		cc := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.Data, cc); err != nil {
			return nil, nil, 0, err
		}
		var added []*statepb.Member
		if len(cc.Context) > 0 {
			m := &statepb.Member{}
			if err := proto.Unmarshal(cc.Context, m); err != nil {
				return nil, nil, 0, err
			}
			// V1 changes only come from bootstrap: the member ran.
			m.Started = true
			added = append(added, m)
		}
		return cc.AsV2(), added, 0, nil
	case raftpb.EntryType_EntryConfChangeV2:
		cc := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.Data, cc); err != nil {
			return nil, nil, 0, err
		}
		ctx := &statepb.ConfChangeContext{}
		if err := proto.Unmarshal(cc.Context, ctx); err != nil {
			return nil, nil, 0, err
		}
		return cc, ctx.Added, ctx.RequestId, nil
	}
	return nil, nil, 0, fmt.Errorf("entry type %v is not a conf change", e.GetType())
}

func (n *Node) setConfState(cs *raftpb.ConfState) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.confState = proto.Clone(cs).(*raftpb.ConfState)
	close(n.confChanged)
	n.confChanged = make(chan struct{})
}

func (n *Node) currentConfState() *raftpb.ConfState {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return proto.Clone(n.confState).(*raftpb.ConfState)
}

func (n *Node) isJoint() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.confState.GetVotersOutgoing()) > 0
}

// maybeSnapshot starts a raft snapshot every SnapshotCount applied entries.
// The snapshot carries the metadata only, a few kilobytes however large
// the key space, read here with its ConfState so they agree. The bbolt
// file must be durable up to the snapshot's index before the snapshot is
// saved (the file plus the snapshot is then the whole state, and the WAL
// before it can go): that commit and its fsync run in the background, and
// finishSnapshot completes the snapshot in a later pass of the loop, so
// ticks, heartbeats and appends never wait for the store's disk (etcd runs
// the same commit outside its raft loop too).
func (n *Node) maybeSnapshot() error {
	applied := n.applied.Load()
	if n.snapPending || applied-n.snapIndex < n.cfg.SnapshotCount {
		return nil
	}
	data, err := n.kv.Metadata()
	if err != nil {
		return err
	}
	n.snapPending = true
	p := pendingSnapshot{index: applied, cs: n.currentConfState(), data: data, start: time.Now()}
	go func() {
		p.err = n.kv.Commit()
		n.snapDone <- p // buffered: never blocks, even once the loop stopped
	}()
	return nil
}

// pendingSnapshot is a raft snapshot whose store commit is in flight.
type pendingSnapshot struct {
	index uint64
	cs    *raftpb.ConfState
	data  []byte
	start time.Time
	err   error
}

// finishSnapshot saves a snapshot whose store commit completed, and
// compacts raft's memory log, keeping SnapshotCatchUpEntries so a slightly
// slow follower catches up from the log instead of a snapshot.
func (n *Node) finishSnapshot(p pendingSnapshot) error {
	n.snapPending = false
	if p.err != nil {
		return p.err
	}
	if p.index <= n.snapIndex {
		return nil // a snapshot from the leader was installed meanwhile
	}
	snap, err := n.ms.CreateSnapshot(p.index, p.cs, p.data)
	if err != nil {
		return fmt.Errorf("raftnode: create snapshot: %w", err)
	}
	if err := n.disk.SaveSnap(snap); err != nil {
		return err
	}
	if p.index > n.cfg.SnapshotCatchUpEntries {
		if err := n.ms.Compact(p.index - n.cfg.SnapshotCatchUpEntries); err != nil && err != raft.ErrCompacted {
			return fmt.Errorf("raftnode: compact memory log: %w", err)
		}
	}
	if err := n.disk.Release(snap); err != nil {
		return err
	}
	n.snapIndex = p.index
	n.metrics.SnapshotDuration.Observe(time.Since(p.start).Seconds())
	return nil
}

func (n *Node) updateLeader(lead, term uint64) {
	n.mu.Lock()
	changed := lead != n.lead
	n.lead = lead
	if term > n.term {
		n.term = term
	}
	if changed {
		close(n.leaderChanged)
		n.leaderChanged = make(chan struct{})
	}
	n.mu.Unlock()
	n.metrics.SetLeader(lead == n.id, lead != 0, changed)
	if changed {
		n.lg.Info("Leader changed", zap.String("leader", fmt.Sprintf("%x", lead)), zap.Uint64("term", term))
	}
	if changed && lead != n.id {
		// Only the leader expires leases (see lease.go).
		n.kv.DemoteLeases()
	}
}

func (n *Node) updateTerm(term uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if term > n.term {
		n.term = term
	}
}

func (n *Node) forwardReadStates(rs []raft.ReadState) {
	for _, r := range rs {
		select {
		case n.readStateC <- r:
		default:
			// The read loop is behind; it retries with a fresh id.
		}
	}
}

// kvResult adapts an apply result delivered through n.wait.
func kvResult(x any) (kv.Result, bool) {
	r, ok := x.(kv.Result)
	return r, ok
}
