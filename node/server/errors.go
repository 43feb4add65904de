package server

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/errinfo"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// errorTable is the ONE place where the node's sentinel errors become gRPC
// statuses. It follows etcd's v3rpc toGRPCErrorMap (server/etcdserver/api/
// v3rpc/util.go): where etcd has an rpctypes.ErrGRPC* value we use exactly
// its code and message, because clientv3's rpctypes.Error turns the message
// back into a typed client error (rpctypes.ErrNoLeader, ErrEmptyKey, …) and
// its retry policy keys on the code (immutable RPCs retry on Unavailable
// only). Our own errors get the code an etcd client would expect for the
// same situation, and their full message (it carries the detail). Every row
// also names its nodepb.ErrorReason, attached as an ErrorInfo detail
// (node/api/errinfo): that, not the text, is what programs switch on.
var errorTable = []struct {
	err    error
	grpc   error // etcd's status; nil for our own errors, see code
	code   codes.Code
	reason nodepb.ErrorReason
}{
	{nodeerr.ErrNoLeader, rpctypes.ErrGRPCNoLeader, 0, nodepb.ErrorReason_NO_LEADER},
	{nodeerr.ErrNotLeader, rpctypes.ErrGRPCNotLeader, 0, nodepb.ErrorReason_NOT_LEADER},
	{nodeerr.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged, 0, nodepb.ErrorReason_LEADER_CHANGED},
	{nodeerr.ErrTimeout, rpctypes.ErrGRPCTimeout, 0, nodepb.ErrorReason_TIMEOUT},
	{nodeerr.ErrStopped, rpctypes.ErrGRPCStopped, 0, nodepb.ErrorReason_STOPPED},
	{nodeerr.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge, 0, nodepb.ErrorReason_REQUEST_TOO_LARGE},
	{nodeerr.ErrEmptyKey, rpctypes.ErrGRPCEmptyKey, 0, nodepb.ErrorReason_EMPTY_KEY},
	{nodeerr.ErrTooManyOps, rpctypes.ErrGRPCTooManyOps, 0, nodepb.ErrorReason_TOO_MANY_OPS},
	{nodeerr.ErrDuplicateKey, rpctypes.ErrGRPCDuplicateKey, 0, nodepb.ErrorReason_DUPLICATE_KEY},
	{nodeerr.ErrCompacted, rpctypes.ErrGRPCCompacted, 0, nodepb.ErrorReason_COMPACTED},
	{nodeerr.ErrFutureRev, rpctypes.ErrGRPCFutureRev, 0, nodepb.ErrorReason_FUTURE_REV},
	{nodeerr.ErrInvalidSortOption, rpctypes.ErrGRPCInvalidSortOption, 0, nodepb.ErrorReason_INVALID_SORT_OPTION},
	{nodeerr.ErrValueProvided, rpctypes.ErrGRPCValueProvided, 0, nodepb.ErrorReason_VALUE_PROVIDED},
	{nodeerr.ErrLeaseProvided, rpctypes.ErrGRPCLeaseProvided, 0, nodepb.ErrorReason_LEASE_PROVIDED},
	{nodeerr.ErrEmptyOperation, rpctypes.ErrGRPCKeyNotFound, 0, nodepb.ErrorReason_EMPTY_OPERATION},
	// The stored value cannot be incremented: the request is well formed,
	// the state is not what it needs, hence FailedPrecondition.
	{nodeerr.ErrNotCounter, nil, codes.FailedPrecondition, nodepb.ErrorReason_NOT_COUNTER},
	{nodeerr.ErrUnimplemented, nil, codes.Unimplemented, nodepb.ErrorReason_UNIMPLEMENTED},
	{nodeerr.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound, 0, nodepb.ErrorReason_LEASE_NOT_FOUND},
	{nodeerr.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist, 0, nodepb.ErrorReason_LEASE_EXISTS},
	{nodeerr.ErrLeaseTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge, 0, nodepb.ErrorReason_LEASE_TTL_TOO_LARGE},
	{nodeerr.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound, 0, nodepb.ErrorReason_KEY_NOT_FOUND},
	{nodeerr.ErrNoSpace, rpctypes.ErrGRPCNoSpace, 0, nodepb.ErrorReason_NO_SPACE},
	// The result would not fit the value's type or size limit: the
	// argument is out of the range the current state allows.
	{nodeerr.ErrCounterOverflow, nil, codes.OutOfRange, nodepb.ErrorReason_COUNTER_OVERFLOW},
	{nodeerr.ErrValueTooLarge, nil, codes.OutOfRange, nodepb.ErrorReason_VALUE_TOO_LARGE},
	// Session errors are definite answers about this (client id, seq):
	// retrying the same pair cannot succeed, so none is Unavailable.
	{nodeerr.ErrStaleSequence, nil, codes.FailedPrecondition, nodepb.ErrorReason_STALE_SEQUENCE},
	{nodeerr.ErrSequenceReused, nil, codes.AlreadyExists, nodepb.ErrorReason_SEQUENCE_REUSED},
	{nodeerr.ErrResultNotKept, nil, codes.DataLoss, nodepb.ErrorReason_RESULT_NOT_KEPT},

	// etcd answers both "not found" and "removed" with member not found.
	{nodeerr.ErrMemberNotFound, rpctypes.ErrGRPCMemberNotFound, 0, nodepb.ErrorReason_MEMBER_NOT_FOUND},
	{nodeerr.ErrIDRemoved, rpctypes.ErrGRPCMemberNotFound, 0, nodepb.ErrorReason_ID_REMOVED},
	{nodeerr.ErrIDExists, rpctypes.ErrGRPCMemberExist, 0, nodepb.ErrorReason_ID_EXISTS},
	{nodeerr.ErrPeerURLExists, rpctypes.ErrGRPCPeerURLExist, 0, nodepb.ErrorReason_PEER_URL_EXISTS},
	{nodeerr.ErrNameExists, nil, codes.FailedPrecondition, nodepb.ErrorReason_NAME_EXISTS},
	{nodeerr.ErrNotEnoughStarted, rpctypes.ErrGRPCMemberNotEnoughStarted, 0, nodepb.ErrorReason_NOT_ENOUGH_STARTED},
	{nodeerr.ErrMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner, 0, nodepb.ErrorReason_MEMBER_NOT_LEARNER},
	{nodeerr.ErrLearnerNotReady, rpctypes.ErrGRPCLearnerNotReady, 0, nodepb.ErrorReason_LEARNER_NOT_READY},
	{nodeerr.ErrTooManyLearners, rpctypes.ErrGRPCTooManyLearners, 0, nodepb.ErrorReason_TOO_MANY_LEARNERS},
	{nodeerr.ErrRemoveLeader, nil, codes.FailedPrecondition, nodepb.ErrorReason_REMOVE_LEADER},
	// A change that was not applied in time may still apply; the caller
	// retries (ChangeMembers is idempotent), so it is Unavailable like
	// etcd's "request timed out".
	{nodeerr.ErrConfChangeTimeout, nil, codes.Unavailable, nodepb.ErrorReason_CONF_CHANGE_TIMEOUT},
	{nodeerr.ErrBadTargetLeader, rpctypes.ErrGRPCBadLeaderTransferee, 0, nodepb.ErrorReason_BAD_TARGET_LEADER},
	{nodeerr.ErrInvalidChange, nil, codes.InvalidArgument, nodepb.ErrorReason_INVALID_CHANGE},
	{nodeerr.ErrMemberBadURLs, rpctypes.ErrGRPCMemberBadURLs, 0, nodepb.ErrorReason_MEMBER_BAD_URLS},
}

// ToGRPCError maps an error of the node to the status a client sees, with
// its ErrorReason attached. Errors that already carry a gRPC status pass
// through unchanged. Exported so fakes of the node (the operator's fake
// cluster) answer exactly as the node does.
func ToGRPCError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Like etcd: let the client see the context's own code.
		return status.FromContextError(err).Err()
	}
	for _, e := range errorTable {
		if !errors.Is(err, e.err) {
			continue
		}
		if e.grpc != nil {
			return errinfo.With(status.Convert(e.grpc), e.reason).Err()
		}
		return errinfo.Error(e.code, err.Error(), e.reason)
	}
	var fenced *nodeerr.ErrFenced
	if errors.As(err, &fenced) {
		// A fenced node must never serve; FailedPrecondition keeps clientv3
		// from retrying against it as if it were a transient failure.
		return errinfo.Error(codes.FailedPrecondition, fenced.Error(), nodepb.ErrorReason_FENCED)
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}
