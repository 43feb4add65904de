// Package transport moves raft messages between the members of one cluster.
//
// Transport is the seam between the raft driver (node/raftnode) and the
// network: the driver hands it every outgoing message of a Ready and it
// delivers incoming ones to a Handler. This package implements it over gRPC
// streams (GRPC); node/nodetest implements it in memory with fault
// injection. Contract, as go.etcd.io/raft requires:
//   - Send never blocks the Ready loop for long: it queues per peer and
//     drops (then reports the peer unreachable) when a queue is full.
//   - A failed delivery calls Handler.ReportUnreachable(to); a MsgSnap ends
//     with exactly one Handler.ReportSnapshot(to, Finish|Failure).
//   - A MsgSnap travels with the sender's key space (Handler.OpenSnapshotDB),
//     which the receiver stores (Handler.ReceiveSnapshotDB) before raft
//     sees the message: the message itself stays small.
//   - Messages to the same peer are delivered in the order sent (raft
//     tolerates loss and reordering, but ordering keeps it efficient).
//
// GRPC also opens its stream to each peer as soon as the peer is added,
// before raft sends anything; a peer that hears from a member it could
// not reach redials it at once. A member just added to the cluster is
// thereby heard by the leader as it starts, not after the leader's dial
// backoff.
package transport

import (
	"context"
	"errors"
	"io"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/api/peerpb"
)

// ErrRemoved is reported when a peer refuses our messages because the
// cluster removed this member: the node must stop (IDs are never reused).
var ErrRemoved = errors.New("kuberaft: this member was removed from the cluster")

// ErrClusterMismatch is reported when a peer belongs to another cluster.
var ErrClusterMismatch = errors.New("kuberaft: peer belongs to another cluster")

// Handler is what a Transport delivers to: the raft driver.
type Handler interface {
	// Process steps one incoming message into raft.
	Process(ctx context.Context, m *raftpb.Message) error
	// ReportUnreachable tells raft a message to id was not delivered.
	ReportUnreachable(id uint64)
	// ReportSnapshot tells raft how sending a snapshot to id ended.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
	// ReportRemoved is called when a peer of this cluster says this member
	// was removed (err is ErrRemoved). A peer of another cluster is only
	// logged and treated as unreachable.
	ReportRemoved(err error)
	// IsRemoved tells whether id was removed from the cluster; messages
	// from removed members are refused with ErrRemoved.
	IsRemoved(id uint64) bool
	// OpenSnapshotDB opens the key space to stream after an outgoing
	// MsgSnap, whose message carries only the metadata.
	OpenSnapshotDB() (SnapshotDB, error)
	// ReceiveSnapshotDB stores, durably, the key space streamed with the
	// incoming MsgSnap at index; Process steps the message only after it
	// returned nil.
	ReceiveSnapshotDB(index uint64, r io.Reader) error
	// Members answers a joining node's member-list request.
	Members() *peerpb.MembersResponse
	// ChangeMembers serves a membership change forwarded by a follower.
	ChangeMembers(ctx context.Context, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error)
}

// SnapshotDB is a consistent view of the key space, streamed to a follower
// after a MsgSnap (node/kv's DB).
type SnapshotDB interface {
	io.WriterTo
	Size() int64
	Close() error
}

// Transport sends raft messages to peers and serves incoming ones.
type Transport interface {
	// Start begins delivering incoming messages to h. The local member and
	// cluster IDs are stamped on every outgoing batch.
	Start(h Handler, localID, clusterID uint64) error
	// Send queues msgs for delivery; it never blocks on the network.
	Send(msgs []*raftpb.Message)
	// AddPeer starts (lazily) a connection to id at urls; no-op if known.
	AddPeer(id uint64, urls []string)
	// UpdatePeer changes the URLs of a known peer.
	UpdatePeer(id uint64, urls []string)
	// RemovePeer closes the connection to id.
	RemovePeer(id uint64)
	// Members asks the peer at url for the cluster's members.
	Members(ctx context.Context, url string) (*peerpb.MembersResponse, error)
	// ChangeMembers forwards a membership change to the peer at url (the
	// leader).
	ChangeMembers(ctx context.Context, url string, req *nodepb.ChangeMembersRequest) (*nodepb.ChangeMembersResponse, error)
	// Stop closes every connection and stops serving.
	Stop()
}
