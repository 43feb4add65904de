package raftnode

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"

	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// stateCapture is the state machine and its applied index read together,
// between two Readys, so they agree.
type stateCapture struct {
	state *kv.Capture
	info  snapfile.Info
	err   error
}

// Snapshot implements Backend (Maintenance.Snapshot): it waits for a
// linearizable point (a ReadIndex round, so the snapshot holds every write
// acknowledged before the call, even on a follower), captures the state
// machine with its applied index in the Ready loop, and writes it to w as
// a snapfile.
//
// The capture in the Ready loop is only a bbolt read transaction and the
// metadata; the copy of the key space is made here, outside the loop, so
// a backup never stalls raft.
func (n *Node) Snapshot(ctx context.Context, w io.Writer) (snapfile.Info, error) {
	if err := n.linearizableRead(ctx); err != nil {
		return snapfile.Info{}, err
	}
	reply := make(chan stateCapture, 1)
	select {
	case n.captureC <- reply:
	case <-ctx.Done():
		return snapfile.Info{}, n.ctxError(ctx)
	case <-n.stopc:
		return snapfile.Info{}, n.stopped()
	}
	var c stateCapture
	select {
	case c = <-reply:
	case <-n.stopc:
		select {
		case c = <-reply: // taken just before the stop: release it
			if c.state != nil {
				_ = c.state.Close()
			}
		default:
		}
		return snapfile.Info{}, n.stopped()
	}
	if c.err != nil {
		return snapfile.Info{}, c.err
	}
	defer func() { _ = c.state.Close() }()
	state, err := c.state.Whole()
	if err != nil {
		return snapfile.Info{}, err
	}
	return snapfile.Write(w, c.info, state)
}

// capture runs in the Ready loop (no apply in flight) for Snapshot.
func (n *Node) capture() stateCapture {
	applied := n.applied.Load()
	term, err := n.ms.Term(applied)
	if err != nil {
		// The applied index is the snapshot's own after a restart with
		// nothing applied since; its term is the snapshot's.
		snap, serr := n.ms.Snapshot()
		if serr != nil || snap.Metadata.GetIndex() != applied {
			return stateCapture{err: fmt.Errorf("raftnode: term of applied index %d: %w", applied, err)}
		}
		term = snap.Metadata.GetTerm()
	}
	state, err := n.kv.OpenCapture()
	if err != nil {
		return stateCapture{err: err}
	}
	return stateCapture{state: state, info: snapfile.Info{
		AppliedIndex: applied, Term: term, Revision: n.kv.Revision(), ClusterID: n.clusterID, MemberID: n.id,
	}}
}

// HashKV implements Backend: etcd's mvcc HashKV of this member's key
// space up to rev (0: current), read locally (compare members at the same
// revision).
func (n *Node) HashKV(ctx context.Context, rev int64) (mvcc.KeyValueHash, int64, error) {
	select {
	case <-n.stopc:
		return mvcc.KeyValueHash{}, 0, n.stopped()
	default:
	}
	return n.kv.HashKV(rev)
}

// randomID is a fresh cluster or member ID for a seeded data dir: random,
// so a restored or forced cluster never reuses an ID (never 0, raft's
// "none").
func randomID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("raftnode: random ID: %w", err)
		}
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

// fileSeed is the storage.Metadata.Seed of a data dir restored from data.
func fileSeed(data []byte) string {
	sum := sha256.Sum256(data)
	return "restore:" + hex.EncodeToString(sum[:])
}

// forceSeed is the storage.Metadata.Seed of a data dir forced with id.
func forceSeed(id string) string { return "force:" + id }

// seedSnapshot is the raft snapshot a seeded data dir starts from: the
// state at index, with self as the only voter.
func seedSnapshot(state []byte, index, term, self uint64) *raftpb.Snapshot {
	return &raftpb.Snapshot{Data: state, Metadata: &raftpb.SnapshotMetadata{
		Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: &raftpb.ConfState{Voters: []uint64{self}},
	}}
}
