package kv

import (
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Result is the outcome of one applied command: a response (with its
// header revision set) or an error, in which case nothing was written.
type Result struct {
	Resp proto.Message
	Err  error
}

// Apply executes one replicated command. A command carrying a client id is
// applied at most once per (client id, seq): a repeat returns the recorded
// result of the first application (the 6.824 kvraft rule; see session.go).
func (s *Store) Apply(cmd *statepb.Command) Result {
	if cmd.ClientId == "" {
		return s.execute(cmd)
	}
	fp := fingerprint(cmd)
	if r, dup := s.lookupSession(cmd, fp); dup {
		return r
	}
	res := s.execute(cmd)
	s.recordSession(cmd, fp, res)
	return res
}

func (s *Store) execute(cmd *statepb.Command) Result {
	if s.refusedForSpace(cmd) {
		return Result{Err: nodeerr.ErrNoSpace}
	}
	var resp proto.Message
	var err error
	switch op := cmd.Op.(type) {
	case *statepb.Command_Put:
		req := &pb.PutRequest{}
		if err = proto.Unmarshal(op.Put, req); err == nil {
			resp, err = s.Put(req)
		}
	case *statepb.Command_DeleteRange:
		req := &pb.DeleteRangeRequest{}
		if err = proto.Unmarshal(op.DeleteRange, req); err == nil {
			resp, err = s.DeleteRange(req)
		}
	case *statepb.Command_Txn:
		req := &pb.TxnRequest{}
		if err = proto.Unmarshal(op.Txn, req); err == nil {
			resp, err = s.Txn(req)
		}
	case *statepb.Command_Append:
		resp, err = s.Append(op.Append)
	case *statepb.Command_Increment:
		resp, err = s.IncrementAndGet(&nodepb.IncrementRequest{Key: op.Increment.Key, Delta: op.Increment.Delta})
	case *statepb.Command_Compaction:
		req := &pb.CompactionRequest{}
		if err = proto.Unmarshal(op.Compaction, req); err == nil {
			resp, err = s.Compact(req)
		}
	case *statepb.Command_LeaseGrant:
		req := &pb.LeaseGrantRequest{}
		if err = proto.Unmarshal(op.LeaseGrant, req); err == nil {
			resp, err = s.leaseGrant(req)
		}
	case *statepb.Command_LeaseRevoke:
		req := &pb.LeaseRevokeRequest{}
		if err = proto.Unmarshal(op.LeaseRevoke, req); err == nil {
			resp, err = s.leaseRevoke(req)
		}
	case *statepb.Command_LeaseCheckpoint:
		req := &pb.LeaseCheckpointRequest{}
		if err = proto.Unmarshal(op.LeaseCheckpoint, req); err == nil {
			resp, err = s.leaseCheckpoint(req)
		}
	case *statepb.Command_Alarm:
		req := &pb.AlarmRequest{}
		if err = proto.Unmarshal(op.Alarm, req); err == nil {
			resp, err = s.applyAlarm(req)
		}
	case *statepb.Command_Publish:
		err = s.Publish(op.Publish)
		resp = &statepb.Member{}
	default:
		err = fmt.Errorf("%w: empty command", nodeerr.ErrUnimplemented)
	}
	if err != nil {
		return Result{Err: err}
	}
	return Result{Resp: resp}
}

// refusedForSpace tells whether cmd must be refused because a NOSPACE
// alarm is raised (etcd's applierV3Capped).
func (s *Store) refusedForSpace(cmd *statepb.Command) bool {
	s.mu.RLock()
	raised := s.noSpace()
	s.mu.RUnlock()
	return raised && AddsData(cmd)
}

func encodeResult(r Result) *statepb.Result {
	if r.Err != nil {
		return &statepb.Result{Res: &statepb.Result_Error{Error: r.Err.Error()}}
	}
	// Marshalling a message we just built cannot fail; if it ever did, the
	// duplicate would answer "not kept" rather than apply twice.
	b, err := proto.Marshal(r.Resp)
	if err != nil || len(b) > MaxRecordedResultBytes {
		return &statepb.Result{Res: &statepb.Result_NotKept{NotKept: true}}
	}
	switch r.Resp.(type) {
	case *pb.PutResponse:
		return &statepb.Result{Res: &statepb.Result_Put{Put: b}}
	case *pb.DeleteRangeResponse:
		return &statepb.Result{Res: &statepb.Result_DeleteRange{DeleteRange: b}}
	case *pb.TxnResponse:
		return &statepb.Result{Res: &statepb.Result_Txn{Txn: b}}
	case *nodepb.AppendResponse:
		return &statepb.Result{Res: &statepb.Result_Append{Append: b}}
	case *nodepb.IncrementResponse:
		return &statepb.Result{Res: &statepb.Result_Increment{Increment: b}}
	}
	// Alarm, compaction and publish results are not recorded: a retry is
	// told the command was applied.
	return &statepb.Result{Res: &statepb.Result_NotKept{NotKept: true}}
}

func decodeResult(r *statepb.Result) Result {
	var m proto.Message
	var b []byte
	switch v := r.GetRes().(type) {
	case *statepb.Result_Error:
		return Result{Err: errorFromMessage(v.Error)}
	case *statepb.Result_NotKept:
		return Result{Err: nodeerr.ErrResultNotKept}
	case *statepb.Result_Put:
		m, b = &pb.PutResponse{}, v.Put
	case *statepb.Result_DeleteRange:
		m, b = &pb.DeleteRangeResponse{}, v.DeleteRange
	case *statepb.Result_Txn:
		m, b = &pb.TxnResponse{}, v.Txn
	case *statepb.Result_Append:
		m, b = &nodepb.AppendResponse{}, v.Append
	case *statepb.Result_Increment:
		m, b = &nodepb.IncrementResponse{}, v.Increment
	default:
		return Result{Err: nodeerr.ErrResultNotKept}
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return Result{Err: fmt.Errorf("kv: decode recorded result: %w", err)}
	}
	return Result{Resp: m}
}

// knownErrors turns a recorded error message back into its sentinel, so a
// duplicate gets the same gRPC code as the first answer.
var knownErrors = []error{
	nodeerr.ErrEmptyKey, nodeerr.ErrTooManyOps, nodeerr.ErrDuplicateKey,
	nodeerr.ErrCompacted, nodeerr.ErrFutureRev, nodeerr.ErrNotCounter,
	nodeerr.ErrUnimplemented, nodeerr.ErrRequestTooLarge,
	nodeerr.ErrLeaseNotFound, nodeerr.ErrKeyNotFound, nodeerr.ErrNoSpace,
	nodeerr.ErrCounterOverflow, nodeerr.ErrValueTooLarge,
	nodeerr.ErrValueProvided, nodeerr.ErrLeaseProvided,
	nodeerr.ErrSequenceReused, nodeerr.ErrResultNotKept,
	nodeerr.ErrLeaseExists, nodeerr.ErrLeaseTTLTooLarge,
}

func errorFromMessage(msg string) error {
	for _, e := range knownErrors {
		if msg == e.Error() {
			return e
		}
		if len(msg) > len(e.Error()) && msg[:len(e.Error())] == e.Error() {
			return fmt.Errorf("%w%s", e, msg[len(e.Error()):])
		}
	}
	return errors.New(msg)
}
