package memberplan

import (
	"fmt"
	"slices"
	"strings"

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

// NotPromotable applies the promotion rule to a member whose log matches
// the leader's up to match: it returns why the member may not be promoted
// yet, or "" when it may. A member that refused an append recently is never
// promotable, whatever its Match: raft keeps Match when a follower that
// restarted empty refuses appends (a stale reject), so Match alone could
// promote an empty log (issue 8 item 13).
func NotPromotable(match, leaderMatch uint64, rejecting bool) string {
	switch {
	case rejecting:
		return "it refuses the leader's appends (its log lost entries?)"
	case float64(match) < promoteThreshold*float64(leaderMatch):
		return fmt.Sprintf("match %d of leader's %d is below %.0f%%", match, leaderMatch, promoteThreshold*100)
	}
	return ""
}

// View is what planning a membership change reads: the applied
// configuration and metadata, and the leader's view of its followers.
type View struct {
	Leader  uint64
	Voters  []uint64 // incoming voters of the applied ConfState
	Members map[uint64]*statepb.Member
	Removed map[uint64]bool
	Match   map[uint64]uint64 // raft progress Match, by member
	Healthy map[uint64]bool   // heard from within an election timeout (leader included)
	// Rejecting: members that refused an append lately; their Match is
	// not what their log holds.
	Rejecting map[uint64]bool
	// MaxLearners caps the learners a change may leave (etcd's
	// ErrTooManyLearners).
	MaxLearners int
	// PeerScheme is the scheme this cluster's peers speak ("http", or
	// "https" with peer TLS); an added member's peer URLs must use it, or
	// no member could dial it. "" accepts either.
	PeerScheme string
}

// Plan is one ConfChangeV2 to propose.
type Plan struct {
	// Changes are the single changes of the ConfChangeV2.
	Changes []*raftpb.ConfChangeSingle
	// Added are the members the changes add, with their new IDs (they go
	// into the conf change's context).
	Added []*statepb.Member
	// NewVoters are the incoming voters once the plan applies.
	NewVoters []uint64
}

func (p Plan) Empty() bool { return len(p.Changes) == 0 }

func (p Plan) addedLearners() int {
	n := 0
	for _, m := range p.Added {
		if m.IsLearner {
			n++
		}
	}
	return n
}

// countLearners counts the members that are learners once p applies:
// known members (and those p adds) that p does not remove and that are
// not among voters.
func countLearners(v View, p Plan, voters []uint64) int {
	gone := map[uint64]bool{}
	for _, ch := range p.Changes {
		if ch.GetType() == raftpb.ConfChangeType_ConfChangeRemoveNode {
			gone[ch.GetNodeId()] = true
		}
	}
	n := 0
	for id := range v.Members {
		if !v.Removed[id] && !gone[id] && !slices.Contains(voters, id) {
			n++
		}
	}
	return n + p.addedLearners()
}

// planChanges validates the requested changes against v and turns them
// into raft changes. Changes already in effect are dropped, so retrying a
// request that was applied is a no-op (promotion RPCs that time out yet
// succeed are common: kubernetes #139842). newID allocates fresh IDs; it
// must never return a removed or existing one.
func Build(v View, reqs []*nodepb.MemberChange, newID func() uint64) (Plan, error) {
	var p Plan
	seen := map[uint64]bool{}
	voters := slices.Clone(v.Voters)
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
			return Plan{}, err
		}
	}
	if p.Empty() {
		return p, nil
	}
	if len(voters) == 0 {
		return Plan{}, fmt.Errorf("%w: no voter would remain", nodeerr.ErrInvalidChange)
	}
	if before, after := countLearners(v, Plan{}, v.Voters), countLearners(v, p, voters); after > before && after > v.MaxLearners {
		return Plan{}, fmt.Errorf("%w: %d learners, at most %d", nodeerr.ErrTooManyLearners, after, v.MaxLearners)
	}
	p.NewVoters = voters
	if err := checkHealthyQuorum(v, voters); err != nil {
		return Plan{}, err
	}
	return p, nil
}

func (p *Plan) plan(v View, r *nodepb.MemberChange, voters []uint64, newID func() uint64) ([]uint64, error) {
	switch r.Type {
	case nodepb.MemberChange_ADD_LEARNER, nodepb.MemberChange_ADD_VOTER:
		return p.planAdd(v, r, voters, newID)
	}
	m, exists := v.Members[r.Id]
	isVoter := slices.Contains(voters, r.Id)
	switch r.Type {
	case nodepb.MemberChange_PROMOTE:
		if err := checkExists(v, r.Id, exists); err != nil {
			return nil, err
		}
		if isVoter || !m.IsLearner {
			return voters, nil // already a voter
		}
		if why := NotPromotable(v.Match[r.Id], v.Match[v.Leader], v.Rejecting[r.Id]); why != "" {
			return nil, fmt.Errorf("%w: %s", nodeerr.ErrLearnerNotReady, why)
		}
		p.add(raftpb.ConfChangeType_ConfChangeAddNode, r.Id)
		return append(voters, r.Id), nil
	case nodepb.MemberChange_REMOVE:
		if v.Removed[r.Id] {
			return voters, nil // already removed
		}
		if err := checkExists(v, r.Id, exists); err != nil {
			return nil, err
		}
		if r.Id == v.Leader {
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
		if r.Id == v.Leader {
			// Demoting the leader mid-joint left CockroachDB leaderless
			// until an election timeout (cockroach #105578).
			return nil, nodeerr.ErrRemoveLeader
		}
		p.add(raftpb.ConfChangeType_ConfChangeAddLearnerNode, r.Id)
		return slices.DeleteFunc(voters, func(id uint64) bool { return id == r.Id }), nil
	}
	return nil, fmt.Errorf("%w: change type %v", nodeerr.ErrInvalidChange, r.Type)
}

func checkExists(v View, id uint64, exists bool) error {
	switch {
	case v.Removed[id]:
		return nodeerr.ErrIDRemoved
	case !exists:
		return nodeerr.ErrMemberNotFound
	}
	return nil
}

func (p *Plan) planAdd(v View, r *nodepb.MemberChange, voters []uint64, newID func() uint64) ([]uint64, error) {
	if r.Id != 0 {
		return nil, fmt.Errorf("%w: id must be 0 for an add (the cluster allocates it)", nodeerr.ErrInvalidChange)
	}
	if len(r.PeerUrls) == 0 {
		return nil, fmt.Errorf("%w: peer URLs are required", nodeerr.ErrInvalidChange)
	}
	for _, u := range r.PeerUrls {
		if err := ValidatePeerURL(u); err != nil {
			return nil, fmt.Errorf("%w: %w", nodeerr.ErrInvalidChange, err)
		}
		if v.PeerScheme != "" && !strings.HasPrefix(u, v.PeerScheme+"://") {
			return nil, fmt.Errorf("%w: peer URL %q: this cluster's peers speak %s", nodeerr.ErrInvalidChange, u, v.PeerScheme)
		}
	}
	learner := r.Type == nodepb.MemberChange_ADD_LEARNER
	for _, m := range v.Members {
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
	p.Added = append(p.Added, &statepb.Member{Id: id, Name: r.Name, PeerUrls: r.PeerUrls, IsLearner: learner})
	return voters, nil
}

func (p *Plan) add(typ raftpb.ConfChangeType, id uint64) {
	p.Changes = append(p.Changes, &raftpb.ConfChangeSingle{Type: typ.Enum(), NodeId: new(id)})
}

// checkHealthyQuorum refuses a configuration whose healthy voters could not
// form a quorum (etcd's --strict-reconfig-check; coreos/etcd #3477: adding
// unstarted members can wedge a cluster). A voter added right now has not
// started, so it counts as unhealthy.
func checkHealthyQuorum(v View, voters []uint64) error {
	healthy := 0
	for _, id := range voters {
		if v.Healthy[id] {
			healthy++
		}
	}
	if quorum := len(voters)/2 + 1; healthy < quorum {
		return fmt.Errorf("%w: %d healthy of %d voters, quorum %d", nodeerr.ErrNotEnoughStarted, healthy, len(voters), quorum)
	}
	return nil
}

// planApplied tells whether every change of p is in effect in v.
func Applied(v View, p Plan) bool {
	for _, ch := range p.Changes {
		id := ch.GetNodeId()
		m, ok := v.Members[id]
		isVoter := slices.Contains(v.Voters, id)
		switch ch.GetType() {
		case raftpb.ConfChangeType_ConfChangeRemoveNode:
			if !v.Removed[id] {
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
