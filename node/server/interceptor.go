package server

import (
	"context"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
)

// mutatingMethods are the RPCs whose at-most-once identity the state machine
// honours. Reads and membership calls ignore the metadata.
var mutatingMethods = map[string]bool{
	pb.KV_Put_FullMethodName:                      true,
	pb.KV_DeleteRange_FullMethodName:              true,
	pb.KV_Txn_FullMethodName:                      true,
	nodepb.Counter_Append_FullMethodName:          true,
	nodepb.Counter_IncrementAndGet_FullMethodName: true,
}

// clientSeqInterceptor copies the client's (id, seq) pair from the gRPC
// metadata into ctx for mutating calls, where the Backend reads it with
// clientseq.From. A malformed pair is rejected before anything is written:
// silently dropping it would turn a retry into a second write.
func clientSeqInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !mutatingMethods[info.FullMethod] {
		return handler(ctx, req)
	}
	id, ok, err := identFromMetadata(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		ctx = clientseq.With(ctx, id)
	}
	return handler(ctx, req)
}

// identFromMetadata parses the pair; ok is false when the client sent none.
func identFromMetadata(ctx context.Context) (clientseq.Ident, bool, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	ids := md.Get(clientseq.MetadataClientID)
	seqs := md.Get(clientseq.MetadataSeq)
	if len(ids) == 0 && len(seqs) == 0 {
		return clientseq.Ident{}, false, nil
	}
	if len(ids) != 1 || len(seqs) != 1 || ids[0] == "" {
		return clientseq.Ident{}, false, status.Errorf(codes.InvalidArgument,
			"kuberaft: metadata %s and %s must be set together, once each", clientseq.MetadataClientID, clientseq.MetadataSeq)
	}
	seq, err := strconv.ParseUint(seqs[0], 10, 64)
	if err != nil {
		return clientseq.Ident{}, false, status.Errorf(codes.InvalidArgument,
			"kuberaft: metadata %s must be a decimal uint64: %q", clientseq.MetadataSeq, seqs[0])
	}
	return clientseq.Ident{ClientID: ids[0], Seq: seq}, true, nil
}
