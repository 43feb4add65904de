// Package errinfo carries a nodepb.ErrorReason in a gRPC status as a
// google.rpc.ErrorInfo detail, the standard machine-readable cause of the
// gRPC error model (genproto's errdetails), so clients switch on the reason
// and the code and message can stay etcd's canonical ones. The node's
// server attaches reasons (node/server errors.go, the one error table);
// clients such as the operator read them with ReasonOf.
package errinfo

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// Domain names the reasons' owner in ErrorInfo.domain: the proto package
// that defines ErrorReason.
const Domain = "kuberaft.node.v1"

// With returns st with reason attached as an ErrorInfo detail.
func With(st *status.Status, reason nodepb.ErrorReason) *status.Status {
	out, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if err != nil {
		// WithDetails fails only for an OK status, which is not an error
		// and has nothing to explain.
		return st
	}
	return out
}

// Error is a status error with code, message and reason.
func Error(code codes.Code, msg string, reason nodepb.ErrorReason) error {
	return With(status.New(code, msg), reason).Err()
}

// ReasonOf returns the reason carried by err (a gRPC status error, possibly
// wrapped), or ERROR_REASON_UNSPECIFIED when it carries none of ours (a
// transport failure, a context error, another server).
func ReasonOf(err error) nodepb.ErrorReason {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != Domain {
			continue
		}
		if v, ok := nodepb.ErrorReason_value[info.GetReason()]; ok {
			return nodepb.ErrorReason(v)
		}
	}
	return nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// Is reports whether err carries one of reasons.
func Is(err error, reasons ...nodepb.ErrorReason) bool {
	got := ReasonOf(err)
	if got == nodepb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		return false
	}
	for _, r := range reasons {
		if got == r {
			return true
		}
	}
	return false
}
