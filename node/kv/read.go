package kv

import (
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/etcdserver/txn"
	"go.etcd.io/etcd/server/v3/storage/mvcc"

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

// NewWatchStream opens a stream of etcd watches on the store (etcd's
// mvcc.WatchStream: start revisions, ranges, filters, progress, and
// compaction reported as CompactRevision). The caller closes it. Watchers
// survive Restore: the store object stays, only its backend is swapped.
func (s *Store) NewWatchStream() (mvcc.WatchStream, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.eng.kv.NewWatchStream(), nil
}

// PrevKV returns key as it was at revision rev (nil: absent then, or that
// revision is compacted), which is what a watch event's prev_kv carries.
func (s *Store) PrevKV(key []byte, rev int64) (*mvccpb.KeyValue, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	rr, err := s.eng.kv.Range(applyCtx, key, nil, mvcc.RangeOptions{Rev: rev, Limit: 1})
	switch {
	case errors.Is(err, mvcc.ErrCompacted):
		return nil, nil
	case err != nil:
		return nil, translate(err)
	case len(rr.KVs) == 0:
		return nil, nil
	}
	return rr.KVs[0], nil
}
