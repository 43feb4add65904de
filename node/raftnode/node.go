package raftnode

import (
	"context"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Node is one running replica. It implements node/server.Backend.
type Node struct {
	cfg       Config
	id        uint64
	clusterID uint64

	stopOnce sync.Once
	done     chan struct{}
	errMu    sync.Mutex
	err      error
}

// Start opens (or creates) the data dir, bootstraps or joins the cluster
// and runs the node until Stop or a fatal error (see Done and Err).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return nil, nodeerr.ErrUnimplemented
}

// ID is this member's raft ID.
func (n *Node) ID() uint64 { return n.id }

// ClusterID identifies the cluster.
func (n *Node) ClusterID() uint64 { return n.clusterID }

// Done is closed when the node has stopped, by Stop or a fatal error.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is why the node stopped: nil after Stop, *nodeerr.ErrFenced when the
// cluster removed this member while it ran, or a storage error.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// Stop stops the node; a leader first transfers leadership to the most
// caught-up voter (bounded by ctx).
func (n *Node) Stop(ctx context.Context) error { return nodeerr.ErrUnimplemented }

func (n *Node) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) Append(ctx context.Context, req *nodepb.AppendRequest) (*nodepb.AppendResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) IncrementAndGet(ctx context.Context, req *nodepb.IncrementRequest) (*nodepb.IncrementResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) MemberList(ctx context.Context, req *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) MemberAdd(ctx context.Context, req *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) MemberRemove(ctx context.Context, req *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) MemberPromote(ctx context.Context, req *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) ChangeMembers(ctx context.Context, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) Status(ctx context.Context) (*nodepb.StatusResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) EtcdStatus(ctx context.Context) (*pb.StatusResponse, error) {
	return nil, nodeerr.ErrUnimplemented
}

func (n *Node) MoveLeader(ctx context.Context, target uint64) error {
	return nodeerr.ErrUnimplemented
}
