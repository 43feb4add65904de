package server

import (
	"context"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/storage/mvcc"

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
	// Compact replicates a compaction (physical: wait until this member's
	// backend dropped the old revisions).
	Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error)

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
	// Alarm is etcd's Maintenance.Alarm: GET lists the raised alarms,
	// ACTIVATE/DEACTIVATE replicate a change (NOSPACE comes from the quota).
	Alarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error)
	// Defragment shrinks this member's backend file (not replicated).
	Defragment(ctx context.Context) error

	// LeaseGrant and LeaseRevoke are replicated; LeaseRenew renews on the
	// leader (nodeerr.ErrNotLeader elsewhere); LeaseTimeToLive and
	// LeaseLeases answer from this member.
	LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error)
	LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error)
	LeaseRenew(ctx context.Context, id int64) (int64, error)
	LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error)
	LeaseLeases(ctx context.Context) (*pb.LeaseLeasesResponse, error)

	// NewWatchStream opens a stream of etcd watches on this member's
	// applied state; the caller closes it.
	NewWatchStream() (mvcc.WatchStream, error)
	// PrevKV is key as it was at revision rev (nil: absent or compacted).
	PrevKV(key []byte, rev int64) (*mvccpb.KeyValue, error)

	// Snapshot writes a snapfile of the state at a linearizable point
	// (every write acknowledged before the call is in it) to w.
	Snapshot(ctx context.Context, w io.Writer) (snapfile.Info, error)
	// HashKV is etcd's mvcc HashKV of this member's key space up to
	// revision rev (0: the current one), with the member's current
	// revision; nodeerr.ErrCompacted / ErrFutureRev outside its history.
	HashKV(ctx context.Context, rev int64) (h mvcc.KeyValueHash, currentRev int64, err error)
}
