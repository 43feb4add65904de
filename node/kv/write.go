package kv

import (
	"math"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/pkg/v3/traceutil"
	"go.etcd.io/etcd/server/v3/etcdserver/txn"
	"go.etcd.io/etcd/server/v3/lease"
	"go.etcd.io/etcd/server/v3/storage/mvcc"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/reqshape"
)

// ValidatePut checks what does not depend on the state, so the node can
// refuse bad input before proposing it.
func ValidatePut(req *pb.PutRequest) error { return reqshape.Put(req) }

// ValidateDeleteRange is ValidatePut for DeleteRange.
func ValidateDeleteRange(req *pb.DeleteRangeRequest) error {
	if len(req.Key) == 0 {
		return nodeerr.ErrEmptyKey
	}
	return nil
}

// Put applies a PutRequest.
func (s *Store) Put(req *pb.PutRequest) (*pb.PutResponse, error) {
	if err := reqshape.Put(req); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	resp, _, err := txn.Put(applyCtx, s.lg, s.eng.lessor, s.eng.kv, req)
	return resp, translate(err)
}

// DeleteRange applies a DeleteRangeRequest.
func (s *Store) DeleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := ValidateDeleteRange(req); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	resp, _, err := txn.DeleteRange(applyCtx, s.lg, s.eng.kv, req)
	return resp, translate(err)
}

// readModifyWrite runs f on the current value of key (nil if absent) and
// writes what it returns, in one write txn, keeping the key's lease. It
// returns the new value's revision.
func (s *Store) readModifyWrite(key []byte, f func(old []byte) ([]byte, error)) ([]byte, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, 0, err
	}
	w := s.eng.kv.Write(traceutil.TODO())
	defer w.End()
	rr, err := w.Range(applyCtx, key, nil, mvcc.RangeOptions{})
	if err != nil {
		return nil, 0, translate(err)
	}
	var old []byte
	leaseID := lease.NoLease
	if len(rr.KVs) > 0 {
		old, leaseID = rr.KVs[0].Value, lease.LeaseID(rr.KVs[0].Lease)
	}
	value, err := f(old)
	if err != nil {
		return nil, 0, err
	}
	return value, w.Put(key, value, leaseID), nil
}

// Append appends op.Suffix to the value at op.Key (absent: empty). A
// result longer than op.MaxValueBytes (when set) is refused: Put could never
// have written it, and each append would make every later one larger.
func (s *Store) Append(op *statepb.AppendOp) (*nodepb.AppendResponse, error) {
	if len(op.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	value, rev, err := s.readModifyWrite(op.Key, func(old []byte) ([]byte, error) {
		if op.MaxValueBytes > 0 && uint64(len(old))+uint64(len(op.Suffix)) > op.MaxValueBytes {
			return nil, nodeerr.ErrValueTooLarge
		}
		return append(append(make([]byte, 0, len(old)+len(op.Suffix)), old...), op.Suffix...), nil
	})
	if err != nil {
		return nil, err
	}
	return &nodepb.AppendResponse{Value: value, Revision: rev}, nil
}

// IncrementAndGet adds req.Delta to the decimal integer at req.Key (absent
// counts as 0) and returns the new value.
func (s *Store) IncrementAndGet(req *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error) {
	if len(req.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	var next int64
	_, rev, err := s.readModifyWrite(req.Key, func(old []byte) ([]byte, error) {
		var cur int64
		if old != nil {
			v, err := strconv.ParseInt(string(old), 10, 64)
			if err != nil {
				return nil, nodeerr.ErrNotCounter
			}
			cur = v
		}
		if addOverflows(cur, req.Delta) {
			return nil, nodeerr.ErrCounterOverflow
		}
		next = cur + req.Delta
		return []byte(strconv.FormatInt(next, 10)), nil
	})
	if err != nil {
		return nil, err
	}
	return &nodepb.IncrementResponse{Value: next, Revision: rev}, nil
}

// addOverflows tells whether a+b leaves the int64 range.
func addOverflows(a, b int64) bool {
	return (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b)
}

// CompactionDone is closed once the latest compaction has removed the old
// revisions from the backend (etcd's physical compaction); compactions run
// in order, so every earlier one is done too.
func (s *Store) CompactionDone() <-chan struct{} {
	if done := s.compacted.Load(); done != nil {
		return *done
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// Compact applies a CompactionRequest: revisions below req.Revision are
// dropped (in the background, in batches, as etcd does); reads and watches
// below it get ErrCompacted from now on.
func (s *Store) Compact(req *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	done, err := s.eng.kv.Compact(traceutil.TODO(), req.Revision)
	if err != nil {
		return nil, translate(err)
	}
	s.compacted.Store(&done)
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: s.eng.kv.Rev()}}, nil
}
