package fakecluster

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/controllers/membership"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/node/api/errinfo"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

var _ nodeclient.NodeClient = (*Cluster)(nil)

var errUnavailable = status.Error(codes.Unavailable, "connection refused")

// nodeError is what a real node answers: etcd's status (or ours) with the
// ErrorReason attached as node/server's error table does; the operator
// switches on the reason only. (controllers may not import the node's
// implementation, so the fake pairs them itself.)
func nodeError(st error, reason nodepb.ErrorReason) error {
	return errinfo.With(status.Convert(st), reason).Err()
}

// running returns the running node of pod, or an Unavailable error.
func (f *Cluster) running(pod string) (*node, error) {
	nd := f.nodes[pod]
	if nd == nil || !nd.running || f.Unreachable[pod] {
		return nil, errUnavailable
	}
	return nd, nil
}

// Status implements nodeclient.NodeClient.
func (f *Cluster) Status(_ context.Context, ep nodeclient.Endpoint) (*nodeclient.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nd, err := f.running(ep.Pod)
	if err != nil {
		return nil, err
	}
	if f.Rogue[ep.Pod] {
		return &nodeclient.Status{ID: nd.id, Name: ep.Pod, Role: "Leader", Leader: nd.id, Term: f.term + 5, Commit: f.commit,
			Voters: []uint64{nd.id}, Members: []nodeclient.Member{{ID: nd.id, Name: ep.Pod}}, ClusterID: f.clusterID,
			Progress: map[uint64]nodeclient.Progress{nd.id: {Match: f.commit, Promotable: true}}}, nil
	}
	m := f.members[nd.id]
	st := &nodeclient.Status{ID: nd.id, Name: ep.Pod, Leader: f.leader, Term: f.term, Commit: f.commit, Applied: f.commit,
		Members: f.memberList(), ClusterID: f.clusterID, Version: imageTag(nd.image), Role: "Follower"}
	switch {
	case m == nil:
		st.Role = "Follower"
	case nd.id == f.leader:
		st.Role = "Leader"
		st.Progress = map[uint64]nodeclient.Progress{}
		for _, mm := range f.allMembers() {
			st.Progress[mm.id] = nodeclient.Progress{Match: mm.match, IsLearner: mm.learner, RecentActive: f.connected(mm.id),
				Promotable: f.promotable(mm)}
		}
	case m.learner:
		st.Role = "Learner"
	}
	for _, mm := range f.members {
		if mm.learner {
			st.Learners = append(st.Learners, mm.id)
		} else {
			st.Voters = append(st.Voters, mm.id)
		}
	}
	for id := range f.outgoing {
		st.VotersOutgoing = append(st.VotersOutgoing, id)
	}
	slices.Sort(st.VotersOutgoing)
	st.Joint = f.outgoing != nil
	return st, nil
}

func imageTag(image string) string {
	if i := strings.LastIndex(image, ":"); i >= 0 {
		return image[i+1:]
	}
	return image
}

func (f *Cluster) memberList() []nodeclient.Member {
	ms := f.members
	if f.ListOutgoing {
		ms = f.allMembers()
	}
	out := make([]nodeclient.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, nodeclient.Member{ID: m.id, Name: m.name, PeerURLs: []string{m.peerURL}, IsLearner: m.learner})
	}
	slices.SortFunc(out, func(a, b nodeclient.Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// MemberList implements nodeclient.NodeClient.
func (f *Cluster) MemberList(_ context.Context, ep nodeclient.Endpoint) ([]nodeclient.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.running(ep.Pod); err != nil {
		return nil, err
	}
	return f.memberList(), nil
}

func (f *Cluster) leaderAt(pod string) error {
	nd, err := f.running(pod)
	if err != nil {
		return err
	}
	if nd.id != f.leader || f.leader == 0 {
		return nodeError(rpctypes.ErrGRPCNotLeader, nodepb.ErrorReason_NOT_LEADER)
	}
	return nil
}

// ChangeMembers implements nodeclient.NodeClient with the node's checks
// (learner in sync, leader not removed, names unique). A change of more
// than one voter goes through a joint configuration, in two steps as raft
// takes them: entering needs a quorum of the old voters; leaving (in a
// later Sync, see tickRaft, or at once when LeaveDelay is 0) a quorum of
// both halves. Like the node, the call returns once the final
// configuration applies, or fails with the node's timeout while the
// configuration stays joint.
func (f *Cluster) ChangeMembers(_ context.Context, leader nodeclient.Endpoint, changes []nodeclient.Change) ([]nodeclient.Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, "ChangeMembers"+describe(changes))
	if err := f.leaderAt(leader.Pod); err != nil {
		return nil, err
	}
	if f.outgoing != nil {
		return nil, status.Error(codes.FailedPrecondition, "kuberaft: a configuration change is in progress")
	}
	next := map[uint64]*member{}
	for id, m := range f.members {
		c := *m
		next[id] = &c
	}
	for _, ch := range changes {
		if err := f.apply(next, ch); err != nil {
			return nil, err
		}
	}
	if !f.quorate(f.members) {
		return nil, nodeError(rpctypes.ErrGRPCTimeout, nodepb.ErrorReason_TIMEOUT)
	}
	old := f.members
	f.members = next
	if votersChanged(old, next) > 1 {
		f.outgoing = map[uint64]*member{}
		for id, m := range old {
			if !m.learner {
				f.outgoing[id] = m
			}
		}
		if f.LeaveDelay > 0 || !f.quorate(f.outgoing) || !f.quorate(next) {
			return nil, status.Error(codes.DeadlineExceeded, "kuberaft: configuration change was not applied in time")
		}
	}
	f.leaveJoint()
	if f.LoseReplies > 0 {
		f.LoseReplies--
		return nil, errUnavailable
	}
	return f.memberList(), nil
}

// votersChanged counts the members whose vote differs between a and b.
func votersChanged(a, b map[uint64]*member) int {
	n := 0
	for id := range a {
		if va, vb := a[id] != nil && !a[id].learner, b[id] != nil && !b[id].learner; va != vb {
			n++
		}
	}
	for id, m := range b {
		if a[id] == nil && !m.learner {
			n++
		}
	}
	return n
}

// Joint reports whether the configuration is joint, and its outgoing
// voters' names.
func (f *Cluster) Joint() (bool, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, m := range f.outgoing {
		names = append(names, m.name)
	}
	slices.Sort(names)
	return f.outgoing != nil, names
}

func (f *Cluster) apply(next map[uint64]*member, ch nodeclient.Change) error {
	switch ch.Type {
	case nodeclient.AddLearner:
		for _, m := range next {
			if m.name == ch.Name {
				return nodeError(status.Error(codes.FailedPrecondition, "kuberaft: member name already exists"), nodepb.ErrorReason_NAME_EXISTS)
			}
		}
		f.nextID++
		next[f.nextID] = &member{id: f.nextID, name: ch.Name, peerURL: strings.Join(ch.PeerURLs, ","), learner: true}
	case nodeclient.Promote:
		m := next[ch.ID]
		switch {
		case m == nil:
			return nodeError(rpctypes.ErrGRPCMemberNotFound, nodepb.ErrorReason_MEMBER_NOT_FOUND)
		case !m.learner:
			return nodeError(rpctypes.ErrGRPCMemberNotLearner, nodepb.ErrorReason_MEMBER_NOT_LEARNER)
		case !f.promotable(m):
			return nodeError(rpctypes.ErrGRPCLearnerNotReady, nodepb.ErrorReason_LEARNER_NOT_READY)
		}
		m.learner = false
	case nodeclient.Remove:
		if next[ch.ID] == nil {
			return nodeError(rpctypes.ErrGRPCMemberNotFound, nodepb.ErrorReason_MEMBER_NOT_FOUND)
		}
		if ch.ID == f.leader {
			return nodeError(status.Error(codes.FailedPrecondition, "kuberaft: cannot remove or demote the leader; transfer leadership first"), nodepb.ErrorReason_REMOVE_LEADER)
		}
		delete(next, ch.ID)
	default:
		return nodeError(status.Error(codes.InvalidArgument, "kuberaft: invalid membership change"), nodepb.ErrorReason_INVALID_CHANGE)
	}
	return nil
}

// promotable is the fake's stand-in for the node's catch-up rule: a fake
// member's log is either empty (just added or restarted) or at the commit
// index (after a tick), so "at the commit index" is exact here and the
// node's real threshold is not repeated.
func (f *Cluster) promotable(m *member) bool { return m.match >= f.commit }

// quorate reports whether a majority of ms's voters runs and is
// connected to the leader.
func (f *Cluster) quorate(ms map[uint64]*member) bool {
	voters, up := 0, 0
	for _, m := range ms {
		if !m.learner {
			voters++
			if f.connected(m.id) {
				up++
			}
		}
	}
	return voters > 0 && up >= membership.Quorum(voters)
}

// MoveLeader implements nodeclient.NodeClient.
func (f *Cluster) MoveLeader(_ context.Context, leader nodeclient.Endpoint, target uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, fmt.Sprintf("MoveLeader(%s)", f.nameOf(target)))
	if err := f.leaderAt(leader.Pod); err != nil {
		return err
	}
	m := f.members[target]
	if m == nil || m.learner || f.nodeOf(target) == nil {
		return nodeError(rpctypes.ErrGRPCBadLeaderTransferee, nodepb.ErrorReason_BAD_TARGET_LEADER)
	}
	f.leader = target
	f.term++
	if f.LoseReplies > 0 {
		f.LoseReplies--
		return errUnavailable
	}
	return nil
}

func (f *Cluster) nameOf(id uint64) string {
	if m := f.members[id]; m != nil {
		return m.name
	}
	return fmt.Sprintf("%x", id)
}

func describe(changes []nodeclient.Change) string {
	parts := make([]string, len(changes))
	for i, ch := range changes {
		if ch.Type == nodeclient.AddLearner {
			parts[i] = fmt.Sprintf("%s(%s)", ch.Type, ch.Name)
		} else {
			parts[i] = fmt.Sprintf("%s(%x)", ch.Type, ch.ID)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Fenced implements nodeclient.NodeClient: a node that refused to start
// reports why on its status page until it exits (here: while its pod's
// container is not running and last exited fenced).
func (f *Cluster) Fenced(_ context.Context, ep nodeclient.Endpoint) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nd := f.nodes[ep.Pod]
	if nd == nil || f.Unreachable[ep.Pod] || nd.running {
		return "", errUnavailable
	}
	if nd.exit == exitFenced {
		return "data dir belongs to another member or cluster", nil
	}
	return "", nil
}
