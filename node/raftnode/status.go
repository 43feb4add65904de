package raftnode

import (
	"context"
	"errors"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/raftnode/memberplan"
	"github.com/kuberaft/kuberaft/node/storage"
)

// Status implements Backend: this node's raft view, local and cheap.
func (n *Node) Status(ctx context.Context) (*nodepb.StatusResponse, error) {
	select {
	case <-n.stopc:
		return nil, n.stopped()
	default:
	}
	st := n.raft.Status()
	cs := n.currentConfState()
	resp := &nodepb.StatusResponse{
		Id: n.id, Name: n.cfg.Name, Role: roleName(st.RaftState), Leader: st.Lead,
		Term: st.GetTerm(), Commit: st.GetCommit(), Applied: n.applied.Load(),
		ConfState: toAPIConfState(cs), Joint: len(cs.GetVotersOutgoing()) > 0,
		Members: n.apiMembers(), ClusterId: n.clusterID, Version: n.cfg.Version,
	}
	if n.IsLearner() {
		resp.Role = "Learner"
	}
	healthy := n.healthyMembers()
	leaderMatch := st.Progress[n.id].Match
	rejecting := n.rejectingMembers()
	for id, pr := range st.Progress {
		why := memberplan.NotPromotable(pr.Match, leaderMatch, rejecting[id])
		resp.Progress = append(resp.Progress, &nodepb.Progress{
			Id: id, Match: pr.Match, Next: pr.Next, State: pr.State.String(),
			RecentActive: pr.RecentActive || healthy[id], IsLearner: pr.IsLearner,
			Promotable: why == "", NotPromotableReason: why,
		})
	}
	return resp, nil
}

// roleName turns raft's "StateLeader" into "Leader".
func roleName(s raft.StateType) string {
	return strings.TrimPrefix(s.String(), "State")
}

// EtcdAPIVersion is the etcd version Maintenance.Status reports: the
// etcd release whose API the node serves. Clients switch features on it;
// kube-apiserver relies on watch progress requests (served, node/server)
// only for a version >= 3.5.13. The node's own version is in our Status.
const EtcdAPIVersion = "3.6.8"

// EtcdStatus implements Backend (etcd's Maintenance.Status).
func (n *Node) EtcdStatus(ctx context.Context) (*pb.StatusResponse, error) {
	st, err := n.Status(ctx)
	if err != nil {
		return nil, err
	}
	size, err := storage.DiskSize(n.cfg.DataDir)
	if err != nil {
		n.lg.Debug("Measuring data dir failed", zap.Error(err))
	}
	return &pb.StatusResponse{
		Header: n.header(nil), Version: EtcdAPIVersion, DbSize: size, DbSizeInUse: size,
		Leader: st.Leader, RaftIndex: st.Commit, RaftTerm: st.Term, RaftAppliedIndex: st.Applied,
		IsLearner: n.IsLearner(),
	}, nil
}

// LogLength is the number of entries in raft's in-memory log: snapshots
// and compaction keep it near SnapshotCount + SnapshotCatchUpEntries.
func (n *Node) LogLength() uint64 {
	first, last := n.LogRange()
	if last < first {
		return 0
	}
	return last - first + 1
}

// LogRange is the first and last index of raft's in-memory log (first is
// past the last compaction).
func (n *Node) LogRange() (first, last uint64) {
	first, err1 := n.ms.FirstIndex()
	last, err2 := n.ms.LastIndex()
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return first, last
}

// ErrStateChanging is StateDigest's answer when entries kept being applied
// while it hashed (e.g. a member catching up): ask again later.
var ErrStateChanging = errors.New("raftnode: state kept changing")

// StateDigest is a hash of the whole state machine and the index it was
// applied to; replicas at the same index must agree (tests compare them).
func (n *Node) StateDigest() (applied uint64, sum [32]byte, err error) {
	for range 100 {
		before := n.applied.Load()
		digest, err := n.kv.Digest()
		if err != nil {
			return 0, sum, err
		}
		if n.applied.Load() == before {
			return before, digest, nil
		}
	}
	return 0, sum, ErrStateChanging
}
