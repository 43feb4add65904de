package kv

import (
	"bytes"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/etcdserver/txn"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Txn applies a TxnRequest atomically with etcd's txn semantics (compares
// on value, version, create/mod revision and lease; one revision for the
// whole txn, bumped only if it wrote). The request is validated first, and
// etcd checks the chosen branch against the state before writing, so a bad
// request writes nothing.
func (s *Store) Txn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := validateTxn(req); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	resp, _, err := txn.Txn(applyCtx, s.lg, req, false, s.eng.kv, s.eng.lessor, false)
	return resp, translate(err)
}

// IsReadOnlyTxn tells whether req writes nothing on either branch, so the
// node may serve it like a read.
func IsReadOnlyTxn(req *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			switch r := op.Request.(type) {
			case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
				return false
			case *pb.RequestOp_RequestTxn:
				if !IsReadOnlyTxn(r.RequestTxn) {
					return false
				}
			}
		}
	}
	return true
}

// ValidateTxn is ValidatePut for Txn.
func ValidateTxn(req *pb.TxnRequest) error { return validateTxn(req) }

// validateTxn checks what does not depend on the state: keys present, op
// counts, and no key written twice in one branch (etcd's checkIntervals).
func validateTxn(req *pb.TxnRequest) error {
	for _, c := range req.Compare {
		if len(c.Key) == 0 {
			return nodeerr.ErrEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		if len(ops) > MaxTxnOps {
			return nodeerr.ErrTooManyOps
		}
		if err := validateOps(ops); err != nil {
			return err
		}
		var b branchWrites
		if err := b.collect(ops); err != nil {
			return err
		}
	}
	return nil
}

func validateOps(ops []*pb.RequestOp) error {
	for _, op := range ops {
		var err error
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			if len(r.RequestRange.Key) == 0 {
				err = nodeerr.ErrEmptyKey
			}
		case *pb.RequestOp_RequestPut:
			err = validatePut(r.RequestPut)
		case *pb.RequestOp_RequestDeleteRange:
			if len(r.RequestDeleteRange.Key) == 0 {
				err = nodeerr.ErrEmptyKey
			}
		case *pb.RequestOp_RequestTxn:
			err = validateTxn(r.RequestTxn)
		default:
			err = fmt.Errorf("%w: empty txn operation", nodeerr.ErrUnimplemented)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// branchWrites gathers the writes of one branch, nested txns included, to
// refuse a key put twice or put inside a deleted range.
type branchWrites struct {
	puts    map[string]bool
	deletes [][2][]byte
}

func (b *branchWrites) collect(ops []*pb.RequestOp) error {
	if b.puts == nil {
		b.puts = map[string]bool{}
	}
	for _, op := range ops {
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestPut:
			k := string(r.RequestPut.Key)
			if b.puts[k] {
				return nodeerr.ErrDuplicateKey
			}
			b.puts[k] = true
		case *pb.RequestOp_RequestDeleteRange:
			b.deletes = append(b.deletes, [2][]byte{r.RequestDeleteRange.Key, r.RequestDeleteRange.RangeEnd})
		case *pb.RequestOp_RequestTxn:
			// Only one nested branch runs, but etcd refuses conflicts with
			// either, which keeps the check state-independent.
			if err := b.collect(append(append([]*pb.RequestOp{}, r.RequestTxn.Success...), r.RequestTxn.Failure...)); err != nil {
				return err
			}
		}
	}
	for k := range b.puts {
		for _, d := range b.deletes {
			if inRange([]byte(k), d[0], d[1]) {
				return nodeerr.ErrDuplicateKey
			}
		}
	}
	return nil
}

func inRange(k, key, end []byte) bool {
	if len(end) == 0 {
		return bytes.Equal(k, key)
	}
	if bytes.Compare(k, key) < 0 {
		return false
	}
	return (len(end) == 1 && end[0] == 0) || bytes.Compare(k, end) < 0
}
