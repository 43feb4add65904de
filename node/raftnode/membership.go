package raftnode

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode/memberplan"
)

// ChangeMembers implements Backend: it applies every change through one
// ConfChangeV2 (joint when more than one) and returns once the final,
// non-joint configuration is applied here. A follower forwards the request
// to the leader, which alone knows its followers' progress and health.
func (n *Node) ChangeMembers(ctx context.Context, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	if len(req.Changes) == 0 {
		return nil, fmt.Errorf("%w: no changes", nodeerr.ErrInvalidChange)
	}
	if err := n.waitLeader(ctx); err != nil {
		return nil, err
	}
	lead := n.Leader()
	switch lead {
	case 0:
		return nil, nodeerr.ErrNoLeader
	case n.id:
		return n.changeMembersAsLeader(ctx, req.Changes)
	}
	m, ok := n.kv.Member(lead)
	if !ok || len(m.PeerUrls) == 0 {
		return nil, nodeerr.ErrNoLeader
	}
	resp, err := n.tr.ChangeMembers(ctx, m.PeerUrls[0], req)
	if err != nil {
		return nil, err
	}
	// Return only once the change is applied here too, so a caller that
	// reads this node's membership next sees it: a read index taken now
	// is past the change.
	if err := n.linearizableRead(ctx); err != nil {
		return nil, err
	}
	return resp, nil
}

// changeMembersAsLeader serves ChangeMembers on the leader. Changes run one
// at a time (confSlot), each planned against the configuration it will
// apply to: the applied one, once every entry in the leader's log is
// applied (a conf change of an earlier leader may still be there). Three
// concurrent ADD_VOTERs on three voters once all passed the same check
// and left 6 voters with 3 healthy (issue 8 item 14). A proposal that
// does not apply in time is re-planned from scratch, not re-proposed.
func (n *Node) changeMembersAsLeader(ctx context.Context, reqs []*nodepb.MemberChange) (*nodepb.ChangeMembersResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*n.cfg.RequestTimeout)
	defer cancel()
	select {
	case n.confSlot <- struct{}{}:
		defer func() { <-n.confSlot }()
	case <-ctx.Done():
		return nil, nodeerr.ErrConfChangeTimeout
	case <-n.stopc:
		return nil, n.stopped()
	}
	for {
		// One change at a time: raft refuses a new one while joint.
		if err := n.waitNotJoint(ctx); err != nil {
			return nil, err
		}
		if err := n.waitLogApplied(ctx); err != nil {
			return nil, err
		}
		p, err := n.planWithFreshHealth(ctx, reqs)
		if err != nil {
			return nil, err
		}
		if p.Empty() {
			return n.membershipResponse(), nil
		}
		n.lg.Info("Changing members", zap.Int("changes", len(p.Changes)), zap.Uint64s("new-voters", p.NewVoters))
		err = n.proposeConfChange(ctx, p)
		if errors.Is(err, errReplan) {
			continue
		}
		if err != nil {
			return nil, err
		}
	}
}

// errReplan: a conf change proposal did not apply in time; plan again.
var errReplan = errors.New("conf change not applied yet; re-plan")

// waitLogApplied waits until everything in the leader's log now is
// applied, so planning reads the configuration a new change applies to:
// raft accepts no conf change before that anyway (pendingConfIndex).
func (n *Node) waitLogApplied(ctx context.Context) error {
	last, err := n.ms.LastIndex()
	if err != nil {
		return fmt.Errorf("raftnode: last log index: %w", err)
	}
	if n.applied.Load() >= last {
		return nil
	}
	select {
	case <-n.applyWait.Wait(last):
		return nil
	case <-ctx.Done():
		return nodeerr.ErrConfChangeTimeout
	case <-n.stopc:
		return n.stopped()
	}
}

// planWithFreshHealth plans the change; if too few voters look healthy it
// re-plans for up to an election timeout: a leader elected a moment ago
// (e.g. by MoveLeader) has not heard from every follower yet.
func (n *Node) planWithFreshHealth(ctx context.Context, reqs []*nodepb.MemberChange) (memberplan.Plan, error) {
	deadline := time.Now().Add(n.cfg.ElectionTimeout)
	for {
		p, err := memberplan.Build(n.clusterView(), reqs, n.newMemberID)
		if !errors.Is(err, nodeerr.ErrNotEnoughStarted) || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-time.After(n.cfg.HeartbeatInterval):
		case <-ctx.Done():
			return p, err
		case <-n.stopc:
			return p, n.stopped()
		}
	}
}

// proposeConfChange proposes p once and waits until it is applied. Raft
// drops refused conf changes silently (etcd-io/raft #354), and proposals
// may be lost, so after a timeout it returns errReplan unless p is in
// effect: the caller re-plans against the configuration then applied
// rather than re-proposing a change checked against an older one.
func (n *Node) proposeConfChange(ctx context.Context, p memberplan.Plan) error {
	reqID := n.reqIDs.Next()
	cctx, err := proto.Marshal(&statepb.ConfChangeContext{RequestId: reqID, Added: p.Added})
	if err != nil {
		return fmt.Errorf("raftnode: marshal conf change context: %w", err)
	}
	cc := &raftpb.ConfChangeV2{Transition: raftpb.ConfChangeTransition_ConfChangeTransitionAuto.Enum(), Changes: p.Changes, Context: cctx}
	ch := n.wait.Register(reqID)
	defer n.wait.Trigger(reqID, nil) // no-op once the apply triggered it
	if err := n.raft.ProposeConfChange(ctx, cc); err != nil && ctx.Err() != nil {
		return nodeerr.ErrConfChangeTimeout
	}
	select {
	case x := <-ch:
		if r, ok := x.(confChangeResult); ok {
			return r.err
		}
		return n.stopped()
	case <-time.After(2 * n.cfg.ElectionTimeout):
		if n.Leader() != n.id {
			return nodeerr.ErrLeaderChanged
		}
		if memberplan.Applied(n.clusterView(), p) {
			return nil
		}
		return errReplan
	case <-ctx.Done():
		return nodeerr.ErrConfChangeTimeout
	case <-n.stopc:
		return n.stopped()
	}
}

// waitNotJoint waits until the applied configuration is not joint (raft
// leaves it by itself: transition Auto).
func (n *Node) waitNotJoint(ctx context.Context) error {
	for {
		n.mu.RLock()
		joint, changed := len(n.confState.GetVotersOutgoing()) > 0, n.confChanged
		n.mu.RUnlock()
		if !joint {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nodeerr.ErrConfChangeTimeout
		case <-n.stopc:
			return n.stopped()
		}
	}
}

// clusterView snapshots what planning needs.
func (n *Node) clusterView() memberplan.View {
	cs := n.currentConfState()
	v := memberplan.View{
		Leader: n.Leader(), Voters: slices.Clone(cs.GetVoters()),
		Members: map[uint64]*statepb.Member{}, Removed: map[uint64]bool{},
		Match: map[uint64]uint64{}, Healthy: n.healthyMembers(),
		MaxLearners: n.cfg.MaxLearners, Rejecting: n.rejectingMembers(),
		PeerScheme: n.cfg.peerScheme(),
	}
	for _, m := range n.kv.Members() {
		v.Members[m.Id] = m
	}
	for _, id := range n.kv.Removed() {
		v.Removed[id] = true
	}
	for id, pr := range n.raft.Status().Progress {
		v.Match[id] = pr.Match
		// A leader elected a moment ago has not heard from everyone yet;
		// raft's own activity flag covers that window. Raft also marks
		// a member just added as recently active, before it ever
		// answered: only a member that acknowledged entries to this
		// leader (Match > 0) counts, or unstarted voters would look
		// healthy to the quorum check.
		if pr.RecentActive && pr.Match > 0 {
			v.Healthy[id] = true
		}
	}
	return v
}

// rejectingMembers are the members that refused an append within an
// election timeout.
func (n *Node) rejectingMembers() map[uint64]bool {
	out := map[uint64]bool{}
	n.heardMu.Lock()
	defer n.heardMu.Unlock()
	for id, at := range n.lastReject {
		if time.Since(at) <= n.cfg.ElectionTimeout {
			out[id] = true
		}
	}
	return out
}

// healthyMembers are the members this node heard from within an election
// timeout, itself included.
func (n *Node) healthyMembers() map[uint64]bool {
	out := map[uint64]bool{n.id: true}
	n.heardMu.Lock()
	defer n.heardMu.Unlock()
	for id, at := range n.lastHeard {
		if time.Since(at) <= n.cfg.ElectionTimeout {
			out[id] = true
		}
	}
	return out
}

// newMemberID allocates a random ID that no member has or ever had: raft
// IDs are never reused.
func (n *Node) newMemberID() uint64 {
	for {
		id := rand.Uint64()
		if id == 0 || n.kv.IsRemoved(id) {
			continue
		}
		if _, ok := n.kv.Member(id); !ok {
			return id
		}
	}
}

func (n *Node) membershipResponse() *nodepb.ChangeMembersResponse {
	return &nodepb.ChangeMembersResponse{Members: n.apiMembers(), ConfState: toAPIConfState(n.currentConfState())}
}

func (n *Node) apiMembers() []*nodepb.Member {
	var out []*nodepb.Member
	for _, m := range n.kv.Members() {
		out = append(out, &nodepb.Member{Id: m.Id, Name: m.Name, PeerUrls: m.PeerUrls, ClientUrls: m.ClientUrls, IsLearner: m.IsLearner})
	}
	return out
}

func toAPIConfState(cs *raftpb.ConfState) *nodepb.ConfState {
	return &nodepb.ConfState{Voters: cs.GetVoters(), Learners: cs.GetLearners(), VotersOutgoing: cs.GetVotersOutgoing(), LearnersNext: cs.GetLearnersNext()}
}

func etcdMembers(ms []*nodepb.Member) []*pb.Member {
	out := make([]*pb.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, &pb.Member{ID: m.Id, Name: m.Name, PeerURLs: m.PeerUrls, ClientURLs: m.ClientUrls, IsLearner: m.IsLearner})
	}
	return out
}

// MemberList implements Backend.
func (n *Node) MemberList(ctx context.Context, req *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if req.Linearizable {
		if err := n.linearizableRead(ctx); err != nil {
			return nil, err
		}
	}
	return &pb.MemberListResponse{Header: n.header(nil), Members: etcdMembers(n.apiMembers())}, nil
}

// MemberAdd implements Backend (etcd's Cluster.MemberAdd): ADD_LEARNER, or
// ADD_VOTER without isLearner. The member's name is set when it starts.
func (n *Node) MemberAdd(ctx context.Context, req *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	typ := nodepb.MemberChange_ADD_VOTER
	if req.IsLearner {
		typ = nodepb.MemberChange_ADD_LEARNER
	}
	resp, err := n.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{{Type: typ, PeerUrls: req.PeerURLs}}})
	if err != nil {
		return nil, err
	}
	members := etcdMembers(resp.Members)
	out := &pb.MemberAddResponse{Header: n.header(nil), Members: members}
	for _, m := range members {
		if slices.Equal(m.PeerURLs, req.PeerURLs) {
			out.Member = m
		}
	}
	return out, nil
}

// MemberRemove implements Backend. Removing the leader is refused
// (ErrRemoveLeader): move leadership first.
func (n *Node) MemberRemove(ctx context.Context, req *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	if err := n.checkKnown(req.ID); err != nil {
		return nil, err
	}
	resp, err := n.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{{Type: nodepb.MemberChange_REMOVE, Id: req.ID}}})
	if err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: n.header(nil), Members: etcdMembers(resp.Members)}, nil
}

// MemberPromote implements Backend. Promoting a member that is already a
// voter succeeds: it is most likely a retried promotion.
func (n *Node) MemberPromote(ctx context.Context, req *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	if err := n.checkKnown(req.ID); err != nil {
		return nil, err
	}
	resp, err := n.ChangeMembers(ctx, &nodepb.ChangeMembersRequest{Changes: []*nodepb.MemberChange{{Type: nodepb.MemberChange_PROMOTE, Id: req.ID}}})
	if err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: n.header(nil), Members: etcdMembers(resp.Members)}, nil
}

// checkKnown answers etcd's errors for an unknown or removed member
// locally, without a round trip to the leader.
func (n *Node) checkKnown(id uint64) error {
	if n.kv.IsRemoved(id) {
		return nodeerr.ErrIDRemoved
	}
	if _, ok := n.kv.Member(id); !ok {
		return nodeerr.ErrMemberNotFound
	}
	return nil
}

// MoveLeader implements Backend: transfers leadership to target (a voter)
// and waits until it leads.
func (n *Node) MoveLeader(ctx context.Context, target uint64) error {
	if n.Leader() != n.id {
		return nodeerr.ErrNotLeader
	}
	if target == n.id {
		return nil
	}
	if !slices.Contains(n.currentConfState().GetVoters(), target) {
		return nodeerr.ErrBadTargetLeader
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	n.raft.TransferLeadership(ctx, n.id, target)
	for {
		lead, _, changed := n.leaderState()
		if lead == target {
			return nil
		}
		select {
		case <-changed:
		case <-time.After(n.cfg.HeartbeatInterval):
			// Raft aborts a transfer after an election timeout; ask again
			// while we still lead.
			if n.Leader() == n.id {
				n.raft.TransferLeadership(ctx, n.id, target)
			}
		case <-ctx.Done():
			return nodeerr.ErrTimeout
		case <-n.stopc:
			return n.stopped()
		}
	}
}

// mostCaughtUpVoter is the healthy voter (not us) with the highest match
// index, the best successor on a graceful stop; 0 if none.
func (n *Node) mostCaughtUpVoter() uint64 {
	st := n.raft.Status()
	healthy := n.healthyMembers()
	var best, bestMatch uint64
	for _, id := range n.currentConfState().GetVoters() {
		pr, ok := st.Progress[id]
		if id == n.id || !ok || !healthy[id] {
			continue
		}
		if best == 0 || pr.Match > bestMatch {
			best, bestMatch = id, pr.Match
		}
	}
	return best
}
