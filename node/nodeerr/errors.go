// Package nodeerr defines the node's sentinel errors. Their messages are
// etcd's canonical ones, so the gRPC layer can map each to the status code
// etcd uses and clientv3's rpctypes turn them back into typed client errors.
package nodeerr

import "errors"

// Errors of the write and read paths.
var (
	ErrNoLeader        = errors.New("etcdserver: no leader")
	ErrNotLeader       = errors.New("etcdserver: not leader")
	ErrLeaderChanged   = errors.New("etcdserver: leader changed")
	ErrTimeout         = errors.New("etcdserver: request timed out")
	ErrStopped         = errors.New("etcdserver: server stopped")
	ErrRequestTooLarge = errors.New("etcdserver: request is too large")
	ErrEmptyKey        = errors.New("etcdserver: key is not provided")
	ErrTooManyOps      = errors.New("etcdserver: too many operations in txn request")
	ErrDuplicateKey    = errors.New("etcdserver: duplicate key given in txn request")
	ErrCompacted       = errors.New("mvcc: required revision has been compacted")
	ErrFutureRev       = errors.New("mvcc: required revision is a future revision")
	ErrNotCounter      = errors.New("kuberaft: value is not a decimal integer")
	ErrUnimplemented   = errors.New("kuberaft: not implemented")
	// ErrLeaseNotFound is etcd's answer to a Put naming a lease the store
	// does not hold.
	ErrLeaseNotFound = errors.New("etcdserver: requested lease not found")
	// ErrValueProvided and ErrLeaseProvided refuse a Put that sets a value
	// (lease) together with ignore_value (ignore_lease), as etcd does.
	ErrValueProvided = errors.New("etcdserver: value is provided")
	ErrLeaseProvided = errors.New("etcdserver: lease is provided")
	// ErrLeaseExists and ErrLeaseTTLTooLarge are etcd's answers to a grant
	// reusing an ID or asking for more than the lessor's maximum TTL.
	ErrLeaseExists      = errors.New("etcdserver: lease already exists")
	ErrLeaseTTLTooLarge = errors.New("etcdserver: too large lease TTL")
	// ErrKeyNotFound is etcd's answer to ignore_value/ignore_lease on a key
	// that does not exist.
	ErrKeyNotFound = errors.New("etcdserver: key not found")
	// ErrNoSpace is etcd's answer to a write while the NOSPACE alarm is
	// raised (the store went over --quota-backend-bytes).
	ErrNoSpace = errors.New("etcdserver: mvcc: database space exceeded")
	// ErrCounterOverflow refuses an increment whose result does not fit in
	// an int64 (it would otherwise wrap around silently).
	ErrCounterOverflow = errors.New("kuberaft: counter would overflow int64")
	// ErrValueTooLarge refuses an append whose resulting value would exceed
	// --max-request-bytes (a value that large could never be written by Put).
	ErrValueTooLarge = errors.New("kuberaft: resulting value is larger than max-request-bytes")

	// Shape errors of the request validation (node/server).
	ErrInvalidSortOption = errors.New("etcdserver: invalid sort option")
	// ErrEmptyOperation is a txn operation with no request; etcd answers
	// it with "key not found".
	ErrEmptyOperation = errors.New("etcdserver: key not found")
)

// Errors of the at-most-once session table (Raft thesis §6.3).
var (
	// ErrStaleSequence answers a command whose sequence number is older
	// than the client's last applied one: its result is no longer kept.
	ErrStaleSequence = errors.New("kuberaft: request sequence is older than the client's last one")
	// ErrSequenceReused answers a (client id, seq) that was applied for a
	// different command: two client runs share an id.
	ErrSequenceReused = errors.New("kuberaft: client id and sequence were already used for a different request")
	// ErrResultNotKept answers a retry of an applied command whose response
	// was too large to record, or that this member replayed after a restart
	// (node/kv ApplyEntry): it was applied once; its response is gone.
	ErrResultNotKept = errors.New("kuberaft: request was applied but its response was not kept for retries (too large, or the member restarted since)")
)

// Errors of membership changes.
var (
	ErrMemberNotFound    = errors.New("etcdserver: member not found")
	ErrIDRemoved         = errors.New("etcdserver: ID removed")
	ErrIDExists          = errors.New("etcdserver: ID exists")
	ErrPeerURLExists     = errors.New("etcdserver: Peer URLs already exists")
	ErrNameExists        = errors.New("kuberaft: member name already exists")
	ErrNotEnoughStarted  = errors.New("etcdserver: re-configuration failed due to not enough started members")
	ErrMemberNotLearner  = errors.New("etcdserver: can only promote a learner member")
	ErrLearnerNotReady   = errors.New("etcdserver: can only promote a learner member which is in sync with leader")
	ErrTooManyLearners   = errors.New("etcdserver: too many learner members in cluster")
	ErrRemoveLeader      = errors.New("kuberaft: cannot remove or demote the leader; transfer leadership first")
	ErrConfChangeTimeout = errors.New("kuberaft: configuration change was not applied in time")
	ErrBadTargetLeader   = errors.New("etcdserver: bad leader transferee")
	ErrInvalidChange     = errors.New("kuberaft: invalid membership change")
	ErrMemberBadURLs     = errors.New("etcdserver: given member URLs are invalid")
)

// ErrFenced reports that this node must not join the cluster: its data
// belongs to another cluster or to a removed member, or it has no data
// while the cluster records it as a voter. Reason says which.
type ErrFenced struct{ Reason string }

func (e *ErrFenced) Error() string { return "kuberaft: node fenced: " + e.Reason }
