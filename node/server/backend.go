package server

import (
	"context"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// Backend is everything the gRPC layer needs from the raft node: the seam
// between the thin handlers here and the replica in node/raftnode, which
// implements it (*raftnode.Node). Tests fake it.
//
// Contract:
//   - Mutations (Put, DeleteRange, Txn with writes, Append, IncrementAndGet)
//     return only after the entry is durable on this node and applied; a
//     clientseq.Ident in ctx makes a retried mutation apply at most once.
//   - Range is linearizable (ReadIndex) unless req.Serializable is set.
//   - Errors are nodeerr sentinels (or wrap them), or ctx's error.
//   - Response headers carry cluster id, member id, store revision, term.
type Backend interface {
	Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error)
	Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error)
	DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error)
	Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error)

	Append(ctx context.Context, req *nodepb.AppendRequest) (*nodepb.AppendResponse, error)
	IncrementAndGet(ctx context.Context, req *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error)

	MemberList(ctx context.Context, req *pb.MemberListRequest) (*pb.MemberListResponse, error)
	MemberAdd(ctx context.Context, req *pb.MemberAddRequest) (*pb.MemberAddResponse, error)
	MemberRemove(ctx context.Context, req *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error)
	MemberPromote(ctx context.Context, req *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error)
	ChangeMembers(ctx context.Context, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error)

	// Status is the node's raft view (cheap, local, never blocks on quorum).
	Status(ctx context.Context) (*nodepb.StatusResponse, error)
	// EtcdStatus fills etcd's Maintenance.Status response.
	EtcdStatus(ctx context.Context) (*pb.StatusResponse, error)
	// MoveLeader transfers leadership to target and waits until it leads.
	MoveLeader(ctx context.Context, target uint64) error

	// Snapshot writes a snapfile of the state at a linearizable point
	// (every write acknowledged before the call is in it) to w.
	Snapshot(ctx context.Context, w io.Writer) (snapfile.Info, error)
	// HashKV hashes the key space as of the current revision, locally.
	HashKV(ctx context.Context) (hash uint32, rev int64, err error)
}
