package kv

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/etcdserver/txn"

	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/reqshape"
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

// validateTxn checks what does not depend on the state: keys present and
// no key written twice in one branch (etcd's checkIntervals). The number
// of operations is the server's check alone, against the configured
// --max-txn-ops: checking it here too, against the default, refused at
// apply a txn the server had accepted under a larger configured bound.
func validateTxn(req *pb.TxnRequest) error {
	for _, c := range req.Compare {
		if len(c.Key) == 0 {
			return nodeerr.ErrEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		if err := validateOps(ops); err != nil {
			return err
		}
		if err := reqshape.BranchWrites(ops); err != nil {
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
			err = reqshape.Put(r.RequestPut)
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
