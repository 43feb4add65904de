// Package raftnode is the raft driver of a kuberaft node: it owns the
// go.etcd.io/raft/v3 raft.Node, the durable storage (node/storage), the
// state machine (node/kv) and the peer transport (node/transport), and runs
// the Ready loop. *Node implements node/server.Backend.
//
// Start a node with Start(ctx, cfg). Config fields:
//
//	Name                   member name, unique in the cluster (required)
//	DataDir                WAL + snapshots; created if absent (required)
//	InitialCluster         bootstrap members (name + peer URLs); see ParseInitialCluster
//	InitialClusterState    "new" (bootstrap from InitialCluster) or "existing" (join)
//	InitialClusterToken    mixed into member and cluster IDs (default "kuberaft")
//	AdvertisePeerURLs      this member's peer URLs as others reach them
//	AdvertiseClientURLs    this member's client URLs (reported in MemberList)
//	ListenPeerURLs         where the gRPC peer transport listens (unless PeerListener or Transport)
//	PeerListener           optional ready listener for the peer transport
//	PeerCredentials        TLS for the gRPC peer transport (node/tlsconfig); nil: plaintext, http peer URLs
//	Transport              optional transport (tests inject node/nodetest's)
//	HeartbeatInterval      raft tick (default 100ms)
//	ElectionTimeout        default 1s; ElectionTick = ElectionTimeout/HeartbeatInterval
//	SnapshotCount          applied entries between snapshots (default 10000)
//	SnapshotCatchUpEntries entries kept after a snapshot for slow followers (default 5000)
//	Limits                 node/limits: largest proposal, peer message size
//	QuotaBackendBytes      space quota of the store (default 2 GiB; < 0: none), see quota.go
//	RequestTimeout         bound on a proposal or read (default 5s)
//	MaxLearners            most learners at once (default DefaultMaxLearners)
//	Registry               Prometheus registry for node/metrics (optional)
//	Logger                 zap logger (default: no-op)
//	Version                reported in Status
//	OnApplyConfChange      test hook: called with every applied ConfState
//
// Start returns *nodeerr.ErrFenced when the data dir or the cluster forbids
// this member to run (another cluster's data, a removed member, or no data
// while the cluster records this member as a voter): the caller must exit
// without touching the cluster.
//
// Beyond node/server.Backend, a *Node offers:
//
//	ID, ClusterID, Name    identity
//	Leader, IsLearner      local view, never blocks
//	AppliedIndex, LogRange, LogLength, StateDigest   progress (tests, /status)
//	Published              closed once name and client URLs are replicated
//	Stop(ctx)              graceful: a leader hands leadership over first
//	Done, Err              closed / why when the node stopped by itself:
//	                       *nodeerr.ErrFenced if removed while running
//
// The package keeps the Ready loop and the wiring; each separate concern
// lives in a subpackage, as etcd-io/raft keeps confchange/ and tracker/:
//
//	memberplan  pure planning and checks of a membership change
//	bootstrap   initial-cluster IDs, asking peers, fencing rules
//	proposal    the proposal queue, its bounds, forwarded MsgProps
//
// Files: start.go (bootstrap, join, restart, learning peers), loop.go (the
// Ready loop and apply), propose.go and batch.go (writes, publish,
// batching), read.go (ReadIndex), membership.go (ChangeMembers, one at a
// time), status.go, handler.go (what the transport calls).
package raftnode
