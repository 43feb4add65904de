package errinfo

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

func TestReasonOf(t *testing.T) {
	foreign, err := status.New(codes.FailedPrecondition, "etcdserver: not leader").
		WithDetails(&errdetails.ErrorInfo{Reason: "NOT_LEADER", Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	notLeader := Error(codes.FailedPrecondition, "etcdserver: not leader", nodepb.ErrorReason_NOT_LEADER)
	tests := []struct {
		name string
		err  error
		want nodepb.ErrorReason
	}{
		{"attached", notLeader, nodepb.ErrorReason_NOT_LEADER},
		{"wrapped", fmt.Errorf("change members through kv-0: %w", notLeader), nodepb.ErrorReason_NOT_LEADER},
		{"same text, no detail", status.Error(codes.FailedPrecondition, "etcdserver: not leader"), nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"another domain", foreign.Err(), nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"not a status", errors.New("etcdserver: not leader"), nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
		{"nil", nil, nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReasonOf(tt.err); got != tt.want {
				t.Errorf("ReasonOf = %v, want %v", got, tt.want)
			}
		})
	}
	if !Is(notLeader, nodepb.ErrorReason_NO_LEADER, nodepb.ErrorReason_NOT_LEADER) || Is(notLeader, nodepb.ErrorReason_TIMEOUT) {
		t.Error("Is does not match the attached reason")
	}
	if Is(nil, nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED) {
		t.Error("Is(nil, UNSPECIFIED) must be false")
	}
}
