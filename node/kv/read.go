package kv

import (
	"bytes"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Range answers a RangeRequest from the current state.
func (s *Store) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rangeLocked(req)
}

func (s *Store) rangeLocked(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	// Only the current revision is kept: an older one is gone (compacted),
	// a newer one does not exist yet.
	switch {
	case req.Revision > s.rev:
		return nil, nodeerr.ErrFutureRev
	case req.Revision > 0 && req.Revision < s.rev:
		return nil, nodeerr.ErrCompacted
	}
	var kvs []*mvccpb.KeyValue
	for _, kv := range s.kvsIn(req.Key, req.RangeEnd) {
		if matchesFilters(req, kv) {
			kvs = append(kvs, kv)
		}
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: s.rev}, Count: int64(len(kvs))}
	sortKVs(kvs, req.SortOrder, req.SortTarget)
	if req.Limit > 0 && int64(len(kvs)) > req.Limit {
		kvs, resp.More = kvs[:req.Limit], true
	}
	if req.CountOnly {
		return resp, nil
	}
	for _, kv := range kvs {
		if req.KeysOnly {
			kv = &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
		}
		resp.Kvs = append(resp.Kvs, kv)
	}
	return resp, nil
}

// matchesFilters applies the min/max mod/create revision filters.
func matchesFilters(req *pb.RangeRequest, kv *mvccpb.KeyValue) bool {
	switch {
	case req.MinModRevision > 0 && kv.ModRevision < req.MinModRevision,
		req.MaxModRevision > 0 && kv.ModRevision > req.MaxModRevision,
		req.MinCreateRevision > 0 && kv.CreateRevision < req.MinCreateRevision,
		req.MaxCreateRevision > 0 && kv.CreateRevision > req.MaxCreateRevision:
		return false
	}
	return true
}

// sortKVs orders kvs as etcd does: keys come sorted ascending; NONE with a
// non-key target means ascending, as in etcd's server.
func sortKVs(kvs []*mvccpb.KeyValue, order pb.RangeRequest_SortOrder, target pb.RangeRequest_SortTarget) {
	if order == pb.RangeRequest_NONE && target != pb.RangeRequest_KEY {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_NONE || (order == pb.RangeRequest_ASCEND && target == pb.RangeRequest_KEY) {
		return
	}
	less := func(a, b *mvccpb.KeyValue) bool {
		switch target {
		case pb.RangeRequest_VERSION:
			return a.Version < b.Version
		case pb.RangeRequest_CREATE:
			return a.CreateRevision < b.CreateRevision
		case pb.RangeRequest_MOD:
			return a.ModRevision < b.ModRevision
		case pb.RangeRequest_VALUE:
			return bytes.Compare(a.Value, b.Value) < 0
		}
		return bytes.Compare(a.Key, b.Key) < 0
	}
	sort.SliceStable(kvs, func(i, j int) bool {
		if order == pb.RangeRequest_DESCEND {
			return less(kvs[j], kvs[i])
		}
		return less(kvs[i], kvs[j])
	})
}
