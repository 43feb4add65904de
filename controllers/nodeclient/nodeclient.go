// Package nodeclient is the operator's only way to talk to raft nodes: the
// NodeClient interface, a gRPC implementation over the node's Membership
// service and etcd's Maintenance and Cluster services, and the error
// predicates the controller branches on.
package nodeclient

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/errinfo"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// Endpoint names one member pod; the implementation turns it into an address.
type Endpoint struct {
	// Namespace of the pod.
	Namespace string
	// Service is the headless peer Service that gives the pod its DNS name.
	Service string
	// Pod is the pod's name, which is also the member's name.
	Pod string
}

// ChangeType is one kind of membership change.
type ChangeType int

// Membership change types; they map one to one onto nodepb.MemberChange_Type.
const (
	AddLearner ChangeType = iota + 1
	Promote
	Remove
	Demote
)

func (t ChangeType) String() string {
	switch t {
	case AddLearner:
		return "AddLearner"
	case Promote:
		return "Promote"
	case Remove:
		return "Remove"
	case Demote:
		return "Demote"
	}
	return "Unknown"
}

// Change is one membership change of a ChangeMembers call.
type Change struct {
	Type ChangeType
	// ID of the member; 0 for AddLearner (the cluster allocates it).
	ID uint64
	// Name and PeerURLs of the new member (AddLearner only).
	Name     string
	PeerURLs []string
}

// Member is one member of the raft configuration.
type Member struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// Progress is the leader's view of one member's replication.
type Progress struct {
	Match        uint64
	RecentActive bool
	IsLearner    bool
	// Promotable is the node's verdict that the member has caught up
	// enough to be promoted (for a voter: caught up by the same bar); the
	// rule lives in the node. NotPromotableReason says why not, for people.
	Promotable          bool
	NotPromotableReason string
}

// Status is one node's raft view.
type Status struct {
	ID     uint64
	Name   string
	Role   string // Leader, Follower, Candidate, PreCandidate or Learner
	Leader uint64
	Term   uint64
	Commit uint64
	// Applied is the node's applied index.
	Applied  uint64
	Voters   []uint64
	Learners []uint64
	// VotersOutgoing is non-empty while the configuration is joint.
	VotersOutgoing []uint64
	Joint          bool
	// Progress is set only on the leader, keyed by member ID.
	Progress  map[uint64]Progress
	Members   []Member
	ClusterID uint64
	Version   string
}

// NodeClient reaches raft nodes. Every call is bounded by the caller's
// context and by the implementation's own per-call timeout.
type NodeClient interface {
	// Status returns the raft view of the node at ep.
	Status(ctx context.Context, ep Endpoint) (*Status, error)
	// ChangeMembers applies changes atomically (one joint transition when
	// there are several) through the leader at ep, and returns the members
	// after the change. It returns once the final configuration is applied.
	ChangeMembers(ctx context.Context, leader Endpoint, changes []Change) ([]Member, error)
	// MoveLeader asks the leader at ep to transfer leadership to target.
	MoveLeader(ctx context.Context, leader Endpoint, target uint64) error
	// MemberList returns the members known to the node at ep.
	MemberList(ctx context.Context, ep Endpoint) ([]Member, error)
	// Fenced returns why the node at ep refuses to join its cluster, or ""
	// when it does not. A fenced node closes its client port but keeps its
	// HTTP /status up for a grace period before it exits with code 3, so
	// this sees fencing before the exit code does.
	Fenced(ctx context.Context, ep Endpoint) (string, error)
}

// The predicates below switch on the nodepb.ErrorReason the node attaches
// to its errors (node/api/errinfo), never on message text.

// IsNotLeader reports whether err says the node called was not the leader,
// i.e. leadership moved since the loop observed it.
func IsNotLeader(err error) bool {
	return errinfo.Is(err, nodepb.ErrorReason_NOT_LEADER, nodepb.ErrorReason_NO_LEADER, nodepb.ErrorReason_LEADER_CHANGED)
}

// IsUnavailable reports whether err means the node could not be reached.
func IsUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	s, ok := status.FromError(err)
	return ok && (s.Code() == codes.Unavailable || s.Code() == codes.DeadlineExceeded)
}

// IsRetryableChange reports whether a refused membership change may succeed
// later without the operator doing anything else: a learner not yet in sync,
// not enough started members, or a change that did not apply in time.
func IsRetryableChange(err error) bool {
	return errinfo.Is(err, nodepb.ErrorReason_LEARNER_NOT_READY, nodepb.ErrorReason_NOT_ENOUGH_STARTED,
		nodepb.ErrorReason_CONF_CHANGE_TIMEOUT, nodepb.ErrorReason_TIMEOUT)
}
