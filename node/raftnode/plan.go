package raftnode

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// promoteThreshold is etcd's readiness rule for promoting a learner: its
// match index must be at least 90% of the leader's (etcd
// server.go isLearnerReady, readyPercentThreshold). This is the rule's only
// home: Status reports its verdict per member (Progress.promotable), and
// the operator reads that bit instead of computing the rule again.
const promoteThreshold = 0.9

// notPromotable applies promoteThreshold to a member whose log matches the
// leader's up to match: it returns why the member may not be promoted yet,
// or "" when it may.
func notPromotable(match, leaderMatch uint64) string {
	if float64(match) < promoteThreshold*float64(leaderMatch) {
		return fmt.Sprintf("match %d of leader's %d is below %.0f%%", match, leaderMatch, promoteThreshold*100)
	}
	return ""
}

// clusterView is what planning a membership change reads: the applied
// configuration and metadata, and the leader's view of its followers.
type clusterView struct {
	leader  uint64
	voters  []uint64 // incoming voters of the applied ConfState
	members map[uint64]*statepb.Member
	removed map[uint64]bool
	match   map[uint64]uint64 // raft progress Match, by member
	healthy map[uint64]bool   // heard from within an election timeout (leader included)
}

// changePlan is one ConfChangeV2 to propose.
type changePlan struct {
	changes   []*raftpb.ConfChangeSingle
	added     []*statepb.Member
	newVoters []uint64
}

func (p changePlan) empty() bool { return len(p.changes) == 0 }

// planChanges validates the requested changes against v and turns them
// into raft changes. Changes already in effect are dropped, so retrying a
// request that was applied is a no-op (promotion RPCs that time out yet
// succeed are common: kubernetes #139842). newID allocates fresh IDs; it
// must never return a removed or existing one.
func planChanges(v clusterView, reqs []*nodepb.MemberChange, newID func() uint64) (changePlan, error) {
	var p changePlan
	seen := map[uint64]bool{}
	voters := slices.Clone(v.voters)
	for _, r := range reqs {
		if r.Id != 0 {
			if seen[r.Id] {
				return p, fmt.Errorf("%w: member %x changed twice", nodeerr.ErrInvalidChange, r.Id)
			}
			seen[r.Id] = true
		}
		var err error
		voters, err = p.plan(v, r, voters, newID)
		if err != nil {
			return changePlan{}, err
		}
	}
	if p.empty() {
		return p, nil
	}
	if len(voters) == 0 {
		return changePlan{}, fmt.Errorf("%w: no voter would remain", nodeerr.ErrInvalidChange)
	}
	p.newVoters = voters
	if err := checkHealthyQuorum(v, voters); err != nil {
		return changePlan{}, err
	}
	return p, nil
}

func (p *changePlan) plan(v clusterView, r *nodepb.MemberChange, voters []uint64, newID func() uint64) ([]uint64, error) {
	switch r.Type {
	case nodepb.MemberChange_ADD_LEARNER, nodepb.MemberChange_ADD_VOTER:
		return p.planAdd(v, r, voters, newID)
	}
	m, exists := v.members[r.Id]
	isVoter := slices.Contains(voters, r.Id)
	switch r.Type {
	case nodepb.MemberChange_PROMOTE:
		if err := checkExists(v, r.Id, exists); err != nil {
			return nil, err
		}
		if isVoter || !m.IsLearner {
			return voters, nil // already a voter
		}
		if why := notPromotable(v.match[r.Id], v.match[v.leader]); why != "" {
			return nil, fmt.Errorf("%w: %s", nodeerr.ErrLearnerNotReady, why)
		}
		p.add(raftpb.ConfChangeType_ConfChangeAddNode, r.Id)
		return append(voters, r.Id), nil
	case nodepb.MemberChange_REMOVE:
		if v.removed[r.Id] {
			return voters, nil // already removed
		}
		if err := checkExists(v, r.Id, exists); err != nil {
			return nil, err
		}
		if r.Id == v.leader {
			return nil, nodeerr.ErrRemoveLeader
		}
		p.add(raftpb.ConfChangeType_ConfChangeRemoveNode, r.Id)
		return slices.DeleteFunc(voters, func(id uint64) bool { return id == r.Id }), nil
	case nodepb.MemberChange_DEMOTE:
		if err := checkExists(v, r.Id, exists); err != nil {
			return nil, err
		}
		if !isVoter {
			return voters, nil // already a learner
		}
		if r.Id == v.leader {
			// Demoting the leader mid-joint left CockroachDB leaderless
			// until an election timeout (cockroach #105578).
			return nil, nodeerr.ErrRemoveLeader
		}
		p.add(raftpb.ConfChangeType_ConfChangeAddLearnerNode, r.Id)
		return slices.DeleteFunc(voters, func(id uint64) bool { return id == r.Id }), nil
	}
	return nil, fmt.Errorf("%w: change type %v", nodeerr.ErrInvalidChange, r.Type)
}

func checkExists(v clusterView, id uint64, exists bool) error {
	switch {
	case v.removed[id]:
		return nodeerr.ErrIDRemoved
	case !exists:
		return nodeerr.ErrMemberNotFound
	}
	return nil
}

func (p *changePlan) planAdd(v clusterView, r *nodepb.MemberChange, voters []uint64, newID func() uint64) ([]uint64, error) {
	if r.Id != 0 {
		return nil, fmt.Errorf("%w: id must be 0 for an add (the cluster allocates it)", nodeerr.ErrInvalidChange)
	}
	if len(r.PeerUrls) == 0 {
		return nil, fmt.Errorf("%w: peer URLs are required", nodeerr.ErrInvalidChange)
	}
	for _, u := range r.PeerUrls {
		if err := ValidateURL(u); err != nil {
			return nil, fmt.Errorf("%w: %w", nodeerr.ErrInvalidChange, err)
		}
	}
	learner := r.Type == nodepb.MemberChange_ADD_LEARNER
	for _, m := range v.members {
		sameURLs := slices.Equal(m.PeerUrls, r.PeerUrls)
		if r.Name != "" && m.Name == r.Name {
			if sameURLs {
				return voters, nil // added already: a retry
			}
			return nil, nodeerr.ErrNameExists
		}
		for _, u := range r.PeerUrls {
			if slices.Contains(m.PeerUrls, u) {
				if sameURLs && r.Name == "" && m.IsLearner == learner {
					return voters, nil // etcd MemberAdd retried
				}
				return nil, nodeerr.ErrPeerURLExists
			}
		}
	}
	id := newID()
	typ := raftpb.ConfChangeType_ConfChangeAddLearnerNode
	if !learner {
		typ = raftpb.ConfChangeType_ConfChangeAddNode
		voters = append(voters, id)
	}
	p.add(typ, id)
	p.added = append(p.added, &statepb.Member{Id: id, Name: r.Name, PeerUrls: r.PeerUrls, IsLearner: learner})
	return voters, nil
}

func (p *changePlan) add(typ raftpb.ConfChangeType, id uint64) {
	p.changes = append(p.changes, &raftpb.ConfChangeSingle{Type: typ.Enum(), NodeId: new(id)})
}

// checkHealthyQuorum refuses a configuration whose healthy voters could not
// form a quorum (etcd's --strict-reconfig-check; coreos/etcd #3477: adding
// unstarted members can wedge a cluster). A voter added right now has not
// started, so it counts as unhealthy.
func checkHealthyQuorum(v clusterView, voters []uint64) error {
	healthy := 0
	for _, id := range voters {
		if v.healthy[id] {
			healthy++
		}
	}
	if quorum := len(voters)/2 + 1; healthy < quorum {
		return fmt.Errorf("%w: %d healthy of %d voters, quorum %d", nodeerr.ErrNotEnoughStarted, healthy, len(voters), quorum)
	}
	return nil
}

// planApplied tells whether every change of p is in effect in v.
func planApplied(v clusterView, p changePlan) bool {
	for _, ch := range p.changes {
		id := ch.GetNodeId()
		m, ok := v.members[id]
		isVoter := slices.Contains(v.voters, id)
		switch ch.GetType() {
		case raftpb.ConfChangeType_ConfChangeRemoveNode:
			if !v.removed[id] {
				return false
			}
		case raftpb.ConfChangeType_ConfChangeAddNode:
			if !ok || !isVoter {
				return false
			}
		case raftpb.ConfChangeType_ConfChangeAddLearnerNode:
			if !ok || !m.IsLearner {
				return false
			}
		}
	}
	return true
}
