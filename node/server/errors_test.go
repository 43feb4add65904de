package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/errinfo"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

func TestToGRPCError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
		// wantClient is the typed error clientv3 sees (rpctypes.Error), when
		// etcd has one.
		wantClient error
	}{
		{"no leader", nodeerr.ErrNoLeader, codes.Unavailable, "etcdserver: no leader", rpctypes.ErrNoLeader},
		{"not leader", nodeerr.ErrNotLeader, codes.FailedPrecondition, "etcdserver: not leader", rpctypes.ErrNotLeader},
		{"leader changed", nodeerr.ErrLeaderChanged, codes.Unavailable, "etcdserver: leader changed", rpctypes.ErrLeaderChanged},
		{"timeout", nodeerr.ErrTimeout, codes.Unavailable, "etcdserver: request timed out", rpctypes.ErrTimeout},
		{"stopped", nodeerr.ErrStopped, codes.Unavailable, "etcdserver: server stopped", rpctypes.ErrStopped},
		{"too large", nodeerr.ErrRequestTooLarge, codes.InvalidArgument, "etcdserver: request is too large", rpctypes.ErrRequestTooLarge},
		{"empty key", nodeerr.ErrEmptyKey, codes.InvalidArgument, "etcdserver: key is not provided", rpctypes.ErrEmptyKey},
		{"too many ops", nodeerr.ErrTooManyOps, codes.InvalidArgument, "etcdserver: too many operations in txn request", rpctypes.ErrTooManyOps},
		{"duplicate key", nodeerr.ErrDuplicateKey, codes.InvalidArgument, "etcdserver: duplicate key given in txn request", rpctypes.ErrDuplicateKey},
		{"compacted", nodeerr.ErrCompacted, codes.OutOfRange, "etcdserver: mvcc: required revision has been compacted", rpctypes.ErrCompacted},
		{"future rev", nodeerr.ErrFutureRev, codes.OutOfRange, "etcdserver: mvcc: required revision is a future revision", rpctypes.ErrFutureRev},
		{"not counter", nodeerr.ErrNotCounter, codes.FailedPrecondition, nodeerr.ErrNotCounter.Error(), nil},
		{"unimplemented", nodeerr.ErrUnimplemented, codes.Unimplemented, nodeerr.ErrUnimplemented.Error(), nil},
		{"lease not found", nodeerr.ErrLeaseNotFound, codes.NotFound, "etcdserver: requested lease not found", rpctypes.ErrLeaseNotFound},
		{"lease exists", nodeerr.ErrLeaseExists, codes.FailedPrecondition, "etcdserver: lease already exists", rpctypes.ErrLeaseExist},
		{"lease ttl too large", nodeerr.ErrLeaseTTLTooLarge, codes.OutOfRange, "etcdserver: too large lease TTL", rpctypes.ErrLeaseTTLTooLarge},
		{"key not found", nodeerr.ErrKeyNotFound, codes.InvalidArgument, "etcdserver: key not found", rpctypes.ErrKeyNotFound},
		{"value provided", nodeerr.ErrValueProvided, codes.InvalidArgument, "etcdserver: value is provided", rpctypes.ErrValueProvided},
		{"lease provided", nodeerr.ErrLeaseProvided, codes.InvalidArgument, "etcdserver: lease is provided", rpctypes.ErrLeaseProvided},
		{"no space", nodeerr.ErrNoSpace, codes.ResourceExhausted, "etcdserver: mvcc: database space exceeded", rpctypes.ErrNoSpace},
		{"counter overflow", nodeerr.ErrCounterOverflow, codes.OutOfRange, nodeerr.ErrCounterOverflow.Error(), nil},
		{"value too large", nodeerr.ErrValueTooLarge, codes.OutOfRange, nodeerr.ErrValueTooLarge.Error(), nil},
		{"stale sequence", nodeerr.ErrStaleSequence, codes.FailedPrecondition, nodeerr.ErrStaleSequence.Error(), nil},
		{"sequence reused", nodeerr.ErrSequenceReused, codes.AlreadyExists, nodeerr.ErrSequenceReused.Error(), nil},
		{"result not kept", nodeerr.ErrResultNotKept, codes.DataLoss, nodeerr.ErrResultNotKept.Error(), nil},
		{"member not found", nodeerr.ErrMemberNotFound, codes.NotFound, "etcdserver: member not found", rpctypes.ErrMemberNotFound},
		{"id removed", nodeerr.ErrIDRemoved, codes.NotFound, "etcdserver: member not found", rpctypes.ErrMemberNotFound},
		{"id exists", nodeerr.ErrIDExists, codes.FailedPrecondition, "etcdserver: member ID already exist", rpctypes.ErrMemberExist},
		{"peer url exists", nodeerr.ErrPeerURLExists, codes.FailedPrecondition, "etcdserver: Peer URLs already exists", rpctypes.ErrPeerURLExist},
		{"name exists", nodeerr.ErrNameExists, codes.FailedPrecondition, nodeerr.ErrNameExists.Error(), nil},
		{"not enough started", nodeerr.ErrNotEnoughStarted, codes.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members", rpctypes.ErrMemberNotEnoughStarted},
		{"not learner", nodeerr.ErrMemberNotLearner, codes.FailedPrecondition, "etcdserver: can only promote a learner member", rpctypes.ErrMemberNotLearner},
		{"learner not ready", nodeerr.ErrLearnerNotReady, codes.FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader", rpctypes.ErrMemberLearnerNotReady},
		{"too many learners", nodeerr.ErrTooManyLearners, codes.FailedPrecondition, "etcdserver: too many learner members in cluster", rpctypes.ErrTooManyLearners},
		{"remove leader", nodeerr.ErrRemoveLeader, codes.FailedPrecondition, nodeerr.ErrRemoveLeader.Error(), nil},
		{"conf change timeout", nodeerr.ErrConfChangeTimeout, codes.Unavailable, nodeerr.ErrConfChangeTimeout.Error(), nil},
		{"bad transferee", nodeerr.ErrBadTargetLeader, codes.FailedPrecondition, "etcdserver: bad leader transferee", rpctypes.ErrBadLeaderTransferee},
		{"invalid change", nodeerr.ErrInvalidChange, codes.InvalidArgument, nodeerr.ErrInvalidChange.Error(), nil},
		{"wrapped sentinel", fmt.Errorf("propose: %w", nodeerr.ErrNoLeader), codes.Unavailable, "etcdserver: no leader", rpctypes.ErrNoLeader},
		{"fenced", &nodeerr.ErrFenced{Reason: "data dir belongs to cluster 5"}, codes.FailedPrecondition, "kuberaft: node fenced: data dir belongs to cluster 5", nil},
		{"ctx deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "", nil},
		{"ctx canceled", context.Canceled, codes.Canceled, "", nil},
		{"status passes through", status.Error(codes.Aborted, "x"), codes.Aborted, "x", nil},
		{"own error keeps its detail", fmt.Errorf("%w: no voter would remain", nodeerr.ErrInvalidChange), codes.InvalidArgument,
			"kuberaft: invalid membership change: no voter would remain", nil},
		{"etcd error keeps etcd's message", fmt.Errorf("%w: match 1 of 10", nodeerr.ErrLearnerNotReady), codes.FailedPrecondition,
			"etcdserver: can only promote a learner member which is in sync with leader", rpctypes.ErrMemberLearnerNotReady},
		{"unknown", errors.New("disk on fire"), codes.Unknown, "disk on fire", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToGRPCError(tt.err)
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("ToGRPCError(%v) = %v, not a status", tt.err, got)
			}
			if st.Code() != tt.wantCode {
				t.Errorf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
			if tt.wantClient != nil && !errors.Is(rpctypes.Error(got), tt.wantClient) {
				t.Errorf("rpctypes.Error = %v, want %v", rpctypes.Error(got), tt.wantClient)
			}
		})
	}
	if ToGRPCError(nil) != nil {
		t.Error("ToGRPCError(nil) != nil")
	}
}

// TestErrorTableCoversSentinels fails when someone adds a sentinel to
// nodeerr without a row here (it would surface as codes.Unknown).
func TestErrorTableCoversSentinels(t *testing.T) {
	sentinels := []error{
		nodeerr.ErrNoLeader, nodeerr.ErrNotLeader, nodeerr.ErrLeaderChanged, nodeerr.ErrTimeout,
		nodeerr.ErrStopped, nodeerr.ErrRequestTooLarge, nodeerr.ErrEmptyKey, nodeerr.ErrTooManyOps,
		nodeerr.ErrDuplicateKey, nodeerr.ErrCompacted, nodeerr.ErrFutureRev, nodeerr.ErrNotCounter,
		nodeerr.ErrUnimplemented, nodeerr.ErrMemberNotFound, nodeerr.ErrIDRemoved, nodeerr.ErrIDExists,
		nodeerr.ErrPeerURLExists, nodeerr.ErrNameExists, nodeerr.ErrNotEnoughStarted,
		nodeerr.ErrMemberNotLearner, nodeerr.ErrLearnerNotReady, nodeerr.ErrTooManyLearners,
		nodeerr.ErrRemoveLeader, nodeerr.ErrConfChangeTimeout, nodeerr.ErrBadTargetLeader,
		nodeerr.ErrInvalidChange, nodeerr.ErrInvalidSortOption, nodeerr.ErrValueProvided, nodeerr.ErrLeaseProvided,
		nodeerr.ErrEmptyOperation, nodeerr.ErrMemberBadURLs, nodeerr.ErrLeaseNotFound, nodeerr.ErrLeaseExists,
		nodeerr.ErrLeaseTTLTooLarge, nodeerr.ErrKeyNotFound, nodeerr.ErrNoSpace,
		nodeerr.ErrCounterOverflow, nodeerr.ErrValueTooLarge, nodeerr.ErrStaleSequence,
		nodeerr.ErrSequenceReused, nodeerr.ErrResultNotKept,
	}
	if len(sentinels) != len(errorTable) {
		t.Errorf("errorTable has %d rows, nodeerr has %d sentinels listed here", len(errorTable), len(sentinels))
	}
	reasons := map[nodepb.ErrorReason]error{}
	for _, e := range sentinels {
		got := ToGRPCError(e)
		if status.Code(got) == codes.Unknown {
			t.Errorf("%v maps to Unknown", e)
		}
		r := errinfo.ReasonOf(got)
		if r == nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			t.Errorf("%v carries no ErrorReason", e)
		}
		if prev, dup := reasons[r]; dup {
			t.Errorf("%v and %v share reason %v", prev, e, r)
		}
		reasons[r] = e
	}
	fenced := ToGRPCError(&nodeerr.ErrFenced{Reason: "x"})
	if r := errinfo.ReasonOf(fenced); r != nodepb.ErrorReason_FENCED {
		t.Errorf("fenced carries %v, want FENCED", r)
	}
	// Every reason but UNSPECIFIED names one error of the node.
	if want := len(nodepb.ErrorReason_name) - 1; len(reasons)+1 != want {
		t.Errorf("%d reasons used (+FENCED), nodepb defines %d", len(reasons), want)
	}
}
