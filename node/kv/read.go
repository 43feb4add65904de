package kv

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/etcdserver/txn"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Range answers a RangeRequest at req.Revision (0: the current one) with
// etcd's semantics: below the compaction point ErrCompacted, above the
// current revision ErrFutureRev; count is the total in the range, ignoring
// limit (etcd's unary Range); the header carries the current revision.
func (s *Store) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if len(req.Key) == 0 {
		return nil, nodeerr.ErrEmptyKey
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	resp, _, err := txn.Range(applyCtx, s.lg, s.eng.kv, req, true)
	return resp, translate(err)
}
