package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/reqshape"
)

// kvServer is etcd's KV service. RangeStream (etcd 3.7's streamed Range)
// stays Unimplemented; clients fall back to paged Range.
type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

func (k *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRange(r); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := k.s.cfg.Backend.Range(ctx, r)
	return resp, ToGRPCError(err)
}

func (k *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkSize(r, k.s.cfg.Limits.MaxRequestBytes); err != nil {
		return nil, ToGRPCError(err)
	}
	if err := reqshape.Put(r); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := k.s.cfg.Backend.Put(ctx, r)
	return resp, ToGRPCError(err)
}

func (k *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := checkSize(r, k.s.cfg.Limits.MaxRequestBytes); err != nil {
		return nil, ToGRPCError(err)
	}
	if err := checkDelete(r); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := k.s.cfg.Backend.DeleteRange(ctx, r)
	return resp, ToGRPCError(err)
}

func (k *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := checkSize(r, k.s.cfg.Limits.MaxRequestBytes); err != nil {
		return nil, ToGRPCError(err)
	}
	if err := checkTxn(r, k.s.cfg.Limits.MaxTxnOps); err != nil {
		return nil, ToGRPCError(err)
	}
	resp, err := k.s.cfg.Backend.Txn(ctx, r)
	return resp, ToGRPCError(err)
}

func (k *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := k.s.cfg.Backend.Compact(ctx, r)
	return resp, ToGRPCError(err)
}
