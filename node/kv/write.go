package kv

import (
	"bytes"
	"math"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// MaxTxnOps bounds the operations of one txn branch (etcd's default
// --max-txn-ops).
const MaxTxnOps = 128

// writer is one write transaction: every change it makes gets revision
// next; the store moves to next only if something changed. Caller holds mu.
type writer struct {
	s       *Store
	next    int64
	changed bool
}

func (s *Store) newWriter() *writer { return &writer{s: s, next: s.rev + 1} }

// commit publishes the revision and returns the header revision.
func (w *writer) commit() int64 {
	if w.changed {
		w.s.rev = w.next
	}
	return w.s.rev
}

func (w *writer) put(key, value []byte) (prev *mvccpb.KeyValue) {
	return w.putLease(key, value, 0)
}

func (w *writer) putLease(key, value []byte, lease int64) (prev *mvccpb.KeyValue) {
	prev = w.s.get(key)
	kv := &mvccpb.KeyValue{Key: bytes.Clone(key), Value: bytes.Clone(value), ModRevision: w.next, CreateRevision: w.next, Version: 1, Lease: lease}
	if prev != nil {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	w.s.set(kv)
	w.changed = true
	return prev
}

func (w *writer) deleteRange(key, end []byte) []*mvccpb.KeyValue {
	prevs := w.s.kvsIn(key, end)
	for _, kv := range prevs {
		w.s.del(kv.Key)
	}
	if len(prevs) > 0 {
		w.changed = true
	}
	return prevs
}

// ValidatePut checks what does not depend on the state, so the node can
// refuse bad input before proposing it.
func ValidatePut(req *pb.PutRequest) error { return validatePut(req) }

// ValidateDeleteRange is ValidatePut for DeleteRange.
func ValidateDeleteRange(req *pb.DeleteRangeRequest) error {
	if len(req.Key) == 0 {
		return nodeerr.ErrEmptyKey
	}
	return nil
}

// validatePut follows etcd's checks (server/etcdserver/api/v3rpc/key.go
// checkPutRequest, then txn's checkRequestPut for the lease).
func validatePut(req *pb.PutRequest) error {
	switch {
	case len(req.Key) == 0:
		return nodeerr.ErrEmptyKey
	case req.IgnoreValue && len(req.Value) != 0:
		return nodeerr.ErrValueProvided
	case req.IgnoreLease && req.Lease != 0:
		return nodeerr.ErrLeaseProvided
	case req.Lease != 0:
		// This store grants no leases, so every lease ID is unknown; etcd
		// answers an unknown one with NotFound.
		return nodeerr.ErrLeaseNotFound
	}
	return nil
}

// checkPut is the state-dependent half of etcd's checkRequestPut:
// ignore_value and ignore_lease need an existing key. Caller holds mu.
func (s *Store) checkPut(req *pb.PutRequest) error {
	if (req.IgnoreValue || req.IgnoreLease) && s.get(req.Key) == nil {
		return nodeerr.ErrKeyNotFound
	}
	return nil
}

// Put applies a PutRequest.
func (s *Store) Put(req *pb.PutRequest) (*pb.PutResponse, error) {
	if err := validatePut(req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkPut(req); err != nil {
		return nil, err
	}
	w := s.newWriter()
	resp := w.doPut(req)
	resp.Header = &pb.ResponseHeader{Revision: w.commit()}
	return resp, nil
}

// doPut writes req; checkPut passed, so ignore_* find their key.
func (w *writer) doPut(req *pb.PutRequest) *pb.PutResponse {
	value, lease := req.Value, req.Lease
	if old := w.s.get(req.Key); old != nil {
		if req.IgnoreValue {
			value = old.Value
		}
		if req.IgnoreLease {
			lease = old.Lease
		}
	}
	prev := w.putLease(req.Key, value, lease)
	resp := &pb.PutResponse{}
	if req.PrevKv && prev != nil {
		resp.PrevKv = prev
	}
	return resp
}

// DeleteRange applies a DeleteRangeRequest.
func (s *Store) DeleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.newWriter()
	resp := w.doDelete(req)
	resp.Header = &pb.ResponseHeader{Revision: w.commit()}
	return resp, nil
}

func (w *writer) doDelete(req *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	prevs := w.deleteRange(req.Key, req.RangeEnd)
	resp := &pb.DeleteRangeResponse{Deleted: int64(len(prevs))}
	if req.PrevKv {
		resp.PrevKvs = prevs
	}
	return resp
}

// Append appends op.Suffix to the value at op.Key (absent: empty). A
// result longer than op.MaxValueBytes (when set) is refused: Put could never
// have written it, and each append would make every later one larger.
func (s *Store) Append(op *statepb.AppendOp) (*nodepb.AppendResponse, error) {
	if len(op.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []byte
	if prev := s.get(op.Key); prev != nil {
		old = prev.Value
	}
	if op.MaxValueBytes > 0 && uint64(len(old))+uint64(len(op.Suffix)) > op.MaxValueBytes {
		return nil, nodeerr.ErrValueTooLarge
	}
	value := append(bytes.Clone(old), op.Suffix...)
	w := s.newWriter()
	w.put(op.Key, value)
	return &nodepb.AppendResponse{Value: value, Revision: w.commit()}, nil
}

// IncrementAndGet adds req.Delta to the decimal integer at req.Key (absent
// counts as 0) and returns the new value.
func (s *Store) IncrementAndGet(req *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error) {
	if len(req.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur int64
	if prev := s.get(req.Key); prev != nil {
		v, err := strconv.ParseInt(string(prev.Value), 10, 64)
		if err != nil {
			return nil, nodeerr.ErrNotCounter
		}
		cur = v
	}
	if addOverflows(cur, req.Delta) {
		return nil, nodeerr.ErrCounterOverflow
	}
	next := cur + req.Delta
	w := s.newWriter()
	w.put(req.Key, []byte(strconv.FormatInt(next, 10)))
	return &nodepb.IncrementResponse{Value: next, Revision: w.commit()}, nil
}

// addOverflows tells whether a+b leaves the int64 range.
func addOverflows(a, b int64) bool {
	return (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b)
}
