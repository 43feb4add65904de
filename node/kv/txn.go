package kv

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Txn applies a TxnRequest atomically: compares, then one branch. Its shape
// was checked by the node's server (node/server validate.go) before it was
// proposed; the revisions, which depend on the state, are checked here
// before anything is written, so a bad request writes nothing.
func (s *Store) Txn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkTxnRevisions(req); err != nil {
		return nil, err
	}
	w := s.newWriter()
	resp := w.doTxn(req)
	resp.Header = &pb.ResponseHeader{Revision: w.commit()}
	return resp, nil
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

func (w *writer) doTxn(req *pb.TxnRequest) *pb.TxnResponse {
	ok := true
	for _, c := range req.Compare {
		if !w.s.compare(c) {
			ok = false
			break
		}
	}
	ops := req.Failure
	if ok {
		ops = req.Success
	}
	resp := &pb.TxnResponse{Succeeded: ok, Responses: make([]*pb.ResponseOp, 0, len(ops))}
	for _, op := range ops {
		resp.Responses = append(resp.Responses, w.doOp(op))
	}
	return resp
}

func (w *writer) doOp(op *pb.RequestOp) *pb.ResponseOp {
	switch r := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		// The revision was checked before any write; inside the txn the
		// range reads the txn's own writes, at no particular revision.
		rr := proto.Clone(r.RequestRange).(*pb.RangeRequest)
		rr.Revision = 0
		resp, err := w.s.rangeLocked(rr)
		if err != nil { // validated before: cannot happen
			return &pb.ResponseOp{}
		}
		resp.Header = nil
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: resp}}
	case *pb.RequestOp_RequestPut:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: w.doPut(r.RequestPut)}}
	case *pb.RequestOp_RequestDeleteRange:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: w.doDelete(r.RequestDeleteRange)}}
	case *pb.RequestOp_RequestTxn:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: w.doTxn(r.RequestTxn)}}
	}
	return &pb.ResponseOp{}
}

// compare evaluates one Compare as etcd's applyCompare does: over every key
// in its range; a missing key compares as zero, except that a VALUE compare
// on a missing key always fails.
func (s *Store) compare(c *pb.Compare) bool {
	kvs := s.kvsIn(c.Key, c.RangeEnd)
	if len(kvs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	for _, kv := range kvs {
		if !compareKV(c, kv) {
			return false
		}
	}
	return true
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var r int
	switch c.Target {
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		r = cmpInt(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmpInt(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		r = cmpInt(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		r = cmpInt(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkTxnRevisions refuses ranges at a revision other than the current one
// before anything is written. Caller holds mu.
func (s *Store) checkTxnRevisions(req *pb.TxnRequest) error {
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			switch r := op.Request.(type) {
			case *pb.RequestOp_RequestRange:
				switch rev := r.RequestRange.Revision; {
				case rev > s.rev:
					return nodeerr.ErrFutureRev
				case rev > 0 && rev < s.rev:
					return nodeerr.ErrCompacted
				}
			case *pb.RequestOp_RequestTxn:
				if err := s.checkTxnRevisions(r.RequestTxn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
