package server

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// errorTable is the ONE place where the node's sentinel errors become gRPC
// statuses. It follows etcd's v3rpc toGRPCErrorMap (server/etcdserver/api/
// v3rpc/util.go): where etcd has an rpctypes.ErrGRPC* value we return exactly
// that, because clientv3's rpctypes.Error turns the message back into a typed
// client error (rpctypes.ErrNoLeader, ErrEmptyKey, …) and its retry policy
// keys on the code (immutable RPCs retry on Unavailable only). Our own errors
// get the code an etcd client would expect for the same situation.
var errorTable = []struct {
	err  error
	grpc error
}{
	{nodeerr.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{nodeerr.ErrNotLeader, rpctypes.ErrGRPCNotLeader},
	{nodeerr.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{nodeerr.ErrTimeout, rpctypes.ErrGRPCTimeout},
	{nodeerr.ErrStopped, rpctypes.ErrGRPCStopped},
	{nodeerr.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{nodeerr.ErrEmptyKey, rpctypes.ErrGRPCEmptyKey},
	{nodeerr.ErrTooManyOps, rpctypes.ErrGRPCTooManyOps},
	{nodeerr.ErrDuplicateKey, rpctypes.ErrGRPCDuplicateKey},
	{nodeerr.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{nodeerr.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	// The stored value cannot be incremented: the request is well formed,
	// the state is not what it needs, hence FailedPrecondition.
	{nodeerr.ErrNotCounter, status.Error(codes.FailedPrecondition, nodeerr.ErrNotCounter.Error())},
	{nodeerr.ErrUnimplemented, status.Error(codes.Unimplemented, nodeerr.ErrUnimplemented.Error())},
	{nodeerr.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{nodeerr.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
	{nodeerr.ErrLeaseTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},
	{nodeerr.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{nodeerr.ErrValueProvided, rpctypes.ErrGRPCValueProvided},
	{nodeerr.ErrLeaseProvided, rpctypes.ErrGRPCLeaseProvided},
	{nodeerr.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
	// The result would not fit the value's type or size limit: the
	// argument is out of the range the current state allows.
	{nodeerr.ErrCounterOverflow, status.Error(codes.OutOfRange, nodeerr.ErrCounterOverflow.Error())},
	{nodeerr.ErrValueTooLarge, status.Error(codes.OutOfRange, nodeerr.ErrValueTooLarge.Error())},
	// Session errors are definite answers about this (client id, seq):
	// retrying the same pair cannot succeed, so none is Unavailable.
	{nodeerr.ErrStaleSequence, status.Error(codes.FailedPrecondition, nodeerr.ErrStaleSequence.Error())},
	{nodeerr.ErrSequenceReused, status.Error(codes.AlreadyExists, nodeerr.ErrSequenceReused.Error())},
	{nodeerr.ErrResultNotKept, status.Error(codes.DataLoss, nodeerr.ErrResultNotKept.Error())},

	// etcd answers both "not found" and "removed" with member not found.
	{nodeerr.ErrMemberNotFound, rpctypes.ErrGRPCMemberNotFound},
	{nodeerr.ErrIDRemoved, rpctypes.ErrGRPCMemberNotFound},
	{nodeerr.ErrIDExists, rpctypes.ErrGRPCMemberExist},
	{nodeerr.ErrPeerURLExists, rpctypes.ErrGRPCPeerURLExist},
	{nodeerr.ErrNameExists, status.Error(codes.FailedPrecondition, nodeerr.ErrNameExists.Error())},
	{nodeerr.ErrNotEnoughStarted, rpctypes.ErrGRPCMemberNotEnoughStarted},
	{nodeerr.ErrMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner},
	{nodeerr.ErrLearnerNotReady, rpctypes.ErrGRPCLearnerNotReady},
	{nodeerr.ErrTooManyLearners, rpctypes.ErrGRPCTooManyLearners},
	{nodeerr.ErrRemoveLeader, status.Error(codes.FailedPrecondition, nodeerr.ErrRemoveLeader.Error())},
	// A change that was not applied in time may still apply; the caller
	// retries (ChangeMembers is idempotent), so it is Unavailable like
	// etcd's "request timed out".
	{nodeerr.ErrConfChangeTimeout, status.Error(codes.Unavailable, nodeerr.ErrConfChangeTimeout.Error())},
	{nodeerr.ErrBadTargetLeader, rpctypes.ErrGRPCBadLeaderTransferee},
	{nodeerr.ErrInvalidChange, status.Error(codes.InvalidArgument, nodeerr.ErrInvalidChange.Error())},
}

// toGRPCError maps an error from the Backend to the status a client sees.
// Errors that already carry a gRPC status pass through unchanged.
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Like etcd: let the client see the context's own code.
		return status.FromContextError(err).Err()
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.grpc
		}
	}
	var fenced *nodeerr.ErrFenced
	if errors.As(err, &fenced) {
		// A fenced node must never serve; FailedPrecondition keeps clientv3
		// from retrying against it as if it were a transient failure.
		return status.Error(codes.FailedPrecondition, fenced.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}
