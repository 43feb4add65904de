package kv

import (
	"bytes"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

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
	prev = w.s.get(key)
	kv := &mvccpb.KeyValue{Key: bytes.Clone(key), Value: bytes.Clone(value), ModRevision: w.next, CreateRevision: w.next, Version: 1}
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

// Put applies a PutRequest. Its shape was checked by the node's server
// (node/server validate.go) before it was proposed.
func (s *Store) Put(req *pb.PutRequest) (*pb.PutResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.newWriter()
	resp := w.doPut(req)
	resp.Header = &pb.ResponseHeader{Revision: w.commit()}
	return resp, nil
}

func (w *writer) doPut(req *pb.PutRequest) *pb.PutResponse {
	prev := w.put(req.Key, req.Value)
	resp := &pb.PutResponse{}
	if req.PrevKv && prev != nil {
		resp.PrevKv = prev
	}
	return resp
}

// DeleteRange applies a DeleteRangeRequest.
func (s *Store) DeleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
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

// Append appends req.Suffix to the value at req.Key (absent: empty).
func (s *Store) Append(req *nodepb.AppendRequest) (*nodepb.AppendResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var value []byte
	if prev := s.get(req.Key); prev != nil {
		value = append(bytes.Clone(prev.Value), req.Suffix...)
	} else {
		value = bytes.Clone(req.Suffix)
	}
	w := s.newWriter()
	w.put(req.Key, value)
	return &nodepb.AppendResponse{Value: value, Revision: w.commit()}, nil
}

// IncrementAndGet adds req.Delta to the decimal integer at req.Key (absent
// counts as 0) and returns the new value.
func (s *Store) IncrementAndGet(req *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error) {
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
	next := cur + req.Delta
	w := s.newWriter()
	w.put(req.Key, []byte(strconv.FormatInt(next, 10)))
	return &nodepb.IncrementResponse{Value: next, Revision: w.commit()}, nil
}
