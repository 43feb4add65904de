package raftnode

import (
	"context"
	"io"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/transport"
)

// handler is the node as the transport sees it (transport.Handler).
type handler struct{ n *Node }

var _ transport.Handler = handler{}

// Process steps a peer's message. A bounded wait: raft takes a forwarded
// proposal (MsgProp) only while it knows a leader and blocks until then,
// which would stall every later message of the same stream — a follower
// stuck that way never hears the new leader. A dropped proposal is
// retried by its proposer, like any lost message.
func (h handler) Process(ctx context.Context, m *raftpb.Message) error {
	h.n.heardMu.Lock()
	h.n.lastHeard[m.GetFrom()] = time.Now()
	if m.GetType() == raftpb.MessageType_MsgAppResp && m.GetReject() {
		h.n.lastReject[m.GetFrom()] = time.Now()
	}
	h.n.heardMu.Unlock()
	h.n.rtt.received(m)
	wait := h.n.cfg.ElectionTimeout
	if m.GetType() == raftpb.MessageType_MsgProp {
		if h.n.Leader() == 0 {
			return raft.ErrProposalDropped
		}
		if h.n.queueForwarded(m) {
			return nil // joins the leader's next batch (batch.go)
		}
		wait = h.n.cfg.HeartbeatInterval
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return h.n.raft.Step(ctx, m)
}

func (h handler) ReportUnreachable(id uint64) { h.n.raft.ReportUnreachable(id) }

// OpenSnapshotDB implements transport.Handler: the key space as applied
// now, at least the index of the MsgSnap it follows (refreshSnapshots).
func (h handler) OpenSnapshotDB() (transport.SnapshotDB, error) { return h.n.kv.OpenDB() }

// ReceiveSnapshotDB implements transport.Handler.
func (h handler) ReceiveSnapshotDB(index uint64, r io.Reader) error {
	return h.n.kv.SaveIncoming(index, r)
}

func (h handler) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	h.n.raft.ReportSnapshot(id, status)
}

func (h handler) ReportRemoved(err error) {
	h.n.fail(&nodeerr.ErrFenced{Reason: "a peer reports this member was removed from the cluster: " + err.Error()})
}

// IsRemoved refuses a member only once it has left the configuration for
// good: in a joint configuration a member being removed is still an
// outgoing voter whose acknowledgements the leave-joint entry may need
// (removing two of three voters needs one of them to commit it).
func (h handler) IsRemoved(id uint64) bool { return h.n.isGone(id) }

func (h handler) Members() *peerpb.MembersResponse {
	n := h.n
	resp := &peerpb.MembersResponse{ClusterId: n.clusterID, Removed: n.kv.Removed(), Leader: n.Leader()}
	started := map[uint64]bool{}
	for _, m := range n.kv.Members() {
		resp.Members = append(resp.Members, &peerpb.Member{Id: m.Id, Name: m.Name, PeerUrls: m.PeerUrls, ClientUrls: m.ClientUrls, IsLearner: m.IsLearner})
		started[m.Id] = m.Started
	}
	if resp.Leader == n.id {
		// The leader also knows who acknowledged entries without having
		// published yet.
		resp.FromLeader = true
		for id, pr := range n.raft.Status().Progress {
			started[id] = started[id] || pr.Match > 0
		}
	}
	for id, ok := range started {
		if ok {
			resp.Started = append(resp.Started, id)
		}
	}
	slices.Sort(resp.Started)
	return resp
}

func (h handler) ChangeMembers(ctx context.Context, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	// Serve forwarded requests only as the leader: no forwarding chains.
	if h.n.Leader() != h.n.id {
		return nil, nodeerr.ErrNotLeader
	}
	return h.n.changeMembersAsLeader(ctx, req.Changes)
}
