package transport

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// wireErrors are the errors that cross the peer API by message, so a
// forwarded request fails with the same sentinel as a local one.
var wireErrors = []error{
	ErrRemoved, ErrClusterMismatch,
	nodeerr.ErrNoLeader, nodeerr.ErrNotLeader, nodeerr.ErrLeaderChanged, nodeerr.ErrTimeout,
	nodeerr.ErrStopped, nodeerr.ErrMemberNotFound, nodeerr.ErrIDRemoved, nodeerr.ErrIDExists,
	nodeerr.ErrPeerURLExists, nodeerr.ErrNameExists, nodeerr.ErrNotEnoughStarted,
	nodeerr.ErrMemberNotLearner, nodeerr.ErrLearnerNotReady, nodeerr.ErrTooManyLearners,
	nodeerr.ErrRemoveLeader, nodeerr.ErrConfChangeTimeout, nodeerr.ErrBadTargetLeader,
	nodeerr.ErrInvalidChange,
}

// ToStatus carries err's message in a gRPC status.
func ToStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	if errors.Is(err, ErrRemoved) || errors.Is(err, ErrClusterMismatch) {
		code = codes.FailedPrecondition
	}
	return status.Error(code, err.Error())
}

// FromStatus turns a peer's gRPC error back into the sentinel its message
// starts with (nil stays nil; unknown errors are returned as they are).
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := s.Message()
	// The longest matching prefix: some etcd messages extend others.
	var best error
	for _, e := range wireErrors {
		if m := e.Error(); len(msg) >= len(m) && msg[:len(m)] == m && (best == nil || len(m) > len(best.Error())) {
			best = e
		}
	}
	switch {
	case best == nil:
		return err
	case len(msg) == len(best.Error()):
		return best
	}
	return &wrapped{sentinel: best, msg: msg}
}

// wrapped is a sentinel with extra detail in its message.
type wrapped struct {
	sentinel error
	msg      string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.sentinel }
