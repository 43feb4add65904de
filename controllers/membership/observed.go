// Package membership is the pure planner: from one loop's observed state and
// the spec it decides the single next step (add learners, promote, move the
// leader, remove, delete a pod for upgrade, wipe a fenced volume) or why to
// wait. It does no I/O, so every decision is table- and golden-tested.
package membership

import (
	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Member is one member of the raft configuration as observed this loop.
type Member struct {
	ID      uint64
	Name    string
	Ordinal int // -1 when the name is not <cluster>-<n>
	Learner bool
	// Outgoing is true for a voter of the outgoing half of a joint
	// configuration that the incoming half no longer holds (a member being
	// removed). It still votes: leaving the joint configuration needs a
	// majority of the outgoing voters, so its pod and volume must stay.
	Outgoing bool
	// Healthy is true when the member's pod answered Status with this ID
	// and, for a member other than the leader, the leader follows it (see
	// membership.Healthy).
	Healthy bool
	// Match is the leader's replication progress for this member.
	Match uint64
	// Promotable is the leader's verdict that the member's log has caught
	// up enough to promote it (for a voter: caught up by the same bar). The
	// rule lives in the node, which reports it in its status.
	Promotable bool
}

// Pod is one member pod as observed this loop.
type Pod struct {
	Name    string
	Ordinal int
	Ready   bool
	// Terminating is true once the pod has a deletion timestamp.
	Terminating bool
	// Fenced is true when the node refused to start (exit code 3) and is not
	// running now.
	Fenced bool
	// UpToDate is true when the pod runs the desired pod template.
	UpToDate bool
}

// Observed is everything the planner may read, gathered once per loop.
type Observed struct {
	// Bootstrapped is true once the bootstrap members formed the cluster.
	Bootstrapped bool
	// LeaderID is 0 when no leader is known (or its status is unreachable).
	LeaderID uint64
	// Commit is the leader's commit index.
	Commit uint64
	// Joint is true while the configuration is in a joint transition.
	Joint bool
	// Members is the configuration as the leader reports it, outgoing
	// voters of a joint configuration included (Member.Outgoing). Without
	// a leader it is what the answering nodes report, for status only:
	// every decision first checks LeaderID.
	Members []Member
	// Pods by ordinal.
	Pods map[int]Pod
	// Volumes is the set of ordinals that have a PVC (terminating or not).
	Volumes map[int]bool
	// StatefulSetReplicas is the StatefulSet's current spec.replicas.
	StatefulSetReplicas int
	// Operation is the change recorded as in flight, if any.
	Operation *raftv1alpha1.Operation
}

// Spec is the part of the desired state the planner needs.
type Spec struct {
	Replicas int
	Paused   bool
	// Name is the cluster's name; member n is called <Name>-<n>.
	Name string
}

// Leader returns the leader member, if it is in the configuration.
func (o *Observed) Leader() (Member, bool) {
	return o.member(func(m Member) bool { return m.ID == o.LeaderID && o.LeaderID != 0 })
}

// ByOrdinal returns the member at ordinal n.
func (o *Observed) ByOrdinal(n int) (Member, bool) {
	return o.member(func(m Member) bool { return m.Ordinal == n })
}

func (o *Observed) member(pred func(Member) bool) (Member, bool) {
	for _, m := range o.Members {
		if pred(m) {
			return m, true
		}
	}
	return Member{}, false
}

// Voters returns the voting members.
func (o *Observed) Voters() []Member { return o.filter(func(m Member) bool { return !m.Learner }) }

// Learners returns the learners.
func (o *Observed) Learners() []Member { return o.filter(func(m Member) bool { return m.Learner }) }

func (o *Observed) filter(pred func(Member) bool) []Member {
	var out []Member
	for _, m := range o.Members {
		if pred(m) {
			out = append(out, m)
		}
	}
	return out
}

// CaughtUp reports whether m answers and the leader judges its log caught
// up (Member.Promotable): the bar for promoting a learner, choosing a
// leadership transferee or taking a voter down for an upgrade.
func (o *Observed) CaughtUp(m Member) bool {
	return m.Healthy && m.Promotable
}

// Quorum is the majority of n voters.
func Quorum(n int) int { return n/2 + 1 }

// FailureTolerance is how many more voters may fail before quorum is lost.
func (o *Observed) FailureTolerance() int {
	voters := o.Voters()
	if t := countHealthy(voters) - Quorum(len(voters)); t > 0 {
		return t
	}
	return 0
}

func countHealthy(ms []Member) int {
	n := 0
	for _, m := range ms {
		if m.Healthy {
			n++
		}
	}
	return n
}

// MaxHealthyLag is how far (in entries) a follower's replicated log may
// trail the leader's commit index and still count as healthy. A follower
// further behind is catching up (from a snapshot after a restart, or after
// a partition) and cannot help commit new entries until it has: counting
// it toward a quorum would let a preflight restart another member and stall
// writes. The bound is generous so that a follower merely pipelining under
// load (a few batches behind) stays healthy.
const MaxHealthyLag = 1000

// FollowedByLeader reports whether the leader's progress shows a member it
// replicates to: heard from within the last election timeout (raft's
// Progress.RecentActive) and within MaxHealthyLag of commit. A member that
// answers the operator but not the leader (a one-sided partition) is not
// healthy: it cannot vote for anything the leader proposes.
func FollowedByLeader(recentActive bool, match, commit uint64) bool {
	return recentActive && match+MaxHealthyLag >= commit
}
