package raftnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/pkg/v3/wait"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/metrics"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode/bootstrap"
	"github.com/kuberaft/kuberaft/node/raftnode/proposal"
	"github.com/kuberaft/kuberaft/node/storage"
	"github.com/kuberaft/kuberaft/node/transport"
)

// Bounds of the member-list queries at start: a joining node needs an
// answer and asks until one comes; a restarting one only checks, best
// effort and in one pass, that it was not removed meanwhile.
const (
	joinTimeout         = 10 * time.Second
	restartCheckTimeout = 2 * time.Second
	learnPeersInterval  = time.Second
)

// Start opens (or creates) the data dir, bootstraps or joins the cluster
// and runs the node until Stop or a fatal error (see Done and Err).
// It returns *nodeerr.ErrFenced when this member must not run.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	rn, err := n.openRaft(ctx)
	if err != nil {
		n.tr.Stop()
		if n.disk != nil {
			_ = n.disk.Close()
		}
		_ = n.kv.Close()
		return nil, err
	}
	n.raft = rn
	// Registered only now: the view reads n.raft, which is set above.
	if cfg.Registry != nil {
		if err := metrics.RegisterView(cfg.Registry, n.metricsView); err != nil {
			rn.Stop()
			_ = n.disk.Close()
			n.tr.Stop()
			return nil, err
		}
	}
	n.reqIDs = newRequestIDs()
	n.rtt = newRTTTracker(cfg.ElectionTimeout, n.metrics.ObservePeerRoundTrip)
	n.metrics.SetQuota(cfg.QuotaBackendBytes)
	n.kv.SetClusterID(n.clusterID)
	if err := n.tr.Start(handler{n}, n.id, n.clusterID); err != nil {
		rn.Stop()
		_ = n.disk.Close()
		_ = n.kv.Close()
		n.tr.Stop()
		return nil, fmt.Errorf("raftnode: start transport: %w", err)
	}
	if !n.addKnownPeers() {
		n.lg.Warn("Knowing no peer after restart; asking the initial cluster until one answers")
		n.goFunc(n.learnPeersLoop)
	}
	n.lg.Info("Node started", zap.String("id", fmt.Sprintf("%x", n.id)), zap.String("cluster", fmt.Sprintf("%x", n.clusterID)))
	n.goFunc(n.run)
	n.goFunc(n.proposeLoop)
	n.goFunc(n.readLoop)
	n.goFunc(n.publishLoop)
	n.goFunc(n.leaseExpiryLoop)
	n.kv.SetLeaseCheckpointer(n.proposeLeaseCheckpoint)
	go n.cleanup()
	return n, nil
}

// newNode builds a Node with its metrics and transport, not yet started.
func newNode(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var reg prometheus.Registerer // a nil *Registry must stay a nil interface
	if cfg.Registry != nil {
		reg = cfg.Registry
	}
	m, err := metrics.New(reg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, lg: cfg.Logger.With(zap.String("member", cfg.Name)), metrics: m,
		wait: wait.New(), props: proposal.NewQueue(), applyWait: wait.NewTimeList(),
		leaderChanged: make(chan struct{}), confChanged: make(chan struct{}), confState: &raftpb.ConfState{},
		lastHeard: map[uint64]time.Time{}, lastReject: map[uint64]time.Time{}, readStateC: make(chan raft.ReadState, 64),
		readwaitc: make(chan struct{}, 1), readNotify: newNotifier(),
		stopc: make(chan struct{}), done: make(chan struct{}), published: make(chan struct{}),
		confSlot: make(chan struct{}, 1),
		captureC: make(chan chan stateCapture), snapDone: make(chan pendingSnapshot, 1),
	}
	if n.tr, err = newTransport(cfg); err != nil {
		return nil, err
	}
	// --restore-from / --force-new-cluster swap in a new member directory:
	// before the store's scratch dir is created under it, or the swap's
	// crash recovery (storage.RecoverSeed) would take that dir for the
	// swapped-in data and the store would lose its directory.
	if err := n.seedBeforeOpen(); err != nil {
		n.tr.Stop()
		return nil, err
	}
	// The store's bbolt file lives under the data dir, on the same volume
	// as the WAL; a restart reopens it and replays only the WAL entries it
	// does not hold yet (node/kv's engine).
	if n.kv, err = kv.Open(n.lg, storeDir(cfg.DataDir)); err != nil {
		n.tr.Stop()
		return nil, err
	}
	return n, nil
}

// storeDir is where the state machine's files live in a data dir.
func storeDir(dataDir string) string { return filepath.Join(dataDir, "member", "kv") }

// openRaft restarts from the data dir if it has a WAL, else bootstraps a
// new cluster or joins an existing one, per InitialClusterState.
func (n *Node) openRaft(ctx context.Context) (raft.Node, error) {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnode: data dir: %w", err)
	}
	switch {
	case storage.Exists(n.cfg.DataDir):
		return n.restart(ctx)
	case n.cfg.InitialClusterState == ClusterStateNew:
		return n.bootstrap()
	}
	return n.join(ctx)
}

func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) raftConfig(ms *raft.MemoryStorage, applied uint64) *raft.Config {
	return &raft.Config{
		ID:                        n.id,
		ElectionTick:              n.cfg.electionTicks(),
		HeartbeatTick:             1,
		Storage:                   ms,
		Applied:                   applied,
		MaxSizePerMsg:             1 << 20,
		MaxInflightMsgs:           512,
		MaxUncommittedEntriesSize: proposal.MaxUncommittedBytes,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    newRaftLogger(n.lg),
	}
}

// bootstrap starts a member of a new cluster from InitialCluster.
func (n *Node) bootstrap() (raft.Node, error) {
	peers, ids, err := bootstrap.InitialMembers(n.cfg.InitialCluster, n.cfg.InitialClusterToken)
	if err != nil {
		return nil, err
	}
	n.id = MemberID(n.cfg.Name, n.cfg.InitialClusterToken)
	n.clusterID = ClusterID(n.cfg.InitialClusterToken, ids)
	if !slices.Contains(ids, n.id) {
		return nil, fmt.Errorf("raftnode: %q is not in the initial cluster", n.cfg.Name)
	}
	if n.disk, err = storage.Create(n.lg, n.cfg.DataDir, storage.Metadata{ClusterID: n.clusterID, MemberID: n.id, Name: n.cfg.Name, Token: n.cfg.InitialClusterToken}); err != nil {
		return nil, err
	}
	n.ms = raft.NewMemoryStorage()
	n.lg.Info("Bootstrapping a new cluster", zap.Int("members", len(peers)))
	return raft.StartNode(n.raftConfig(n.ms, 0), peers), nil
}

// join starts a member that an existing cluster added (MemberAdd or
// ChangeMembers ADD_LEARNER): it finds its ID in the member list and starts
// with an empty log; the leader catches it up by snapshot or log.
func (n *Node) join(ctx context.Context) (raft.Node, error) {
	resp, err := bootstrap.Ask(ctx, n.tr, n.cfg.InitialCluster, n.cfg.Name, joinTimeout)
	if err != nil {
		return nil, fmt.Errorf("raftnode: join: %w", err)
	}
	self := bootstrap.FindSelf(resp.Members, n.cfg.Name, n.cfg.AdvertisePeerURLs)
	if self == nil {
		return nil, fmt.Errorf("raftnode: join: %w: no member named %q (add it first)", nodeerr.ErrMemberNotFound, n.cfg.Name)
	}
	if err := bootstrap.CheckJoin(resp, self); err != nil {
		return nil, err
	}
	n.id, n.clusterID = self.Id, resp.ClusterId
	if n.disk, err = storage.Create(n.lg, n.cfg.DataDir, storage.Metadata{ClusterID: n.clusterID, MemberID: n.id, Name: n.cfg.Name, Token: n.cfg.InitialClusterToken}); err != nil {
		return nil, err
	}
	n.ms = raft.NewMemoryStorage()
	n.joinPeers = resp.Members
	n.lg.Info("Joining an existing cluster", zap.String("id", fmt.Sprintf("%x", n.id)))
	return raft.RestartNode(n.raftConfig(n.ms, 0)), nil
}

// restart reopens an existing data dir: the state machine from the newest
// snapshot, raft's log from the WAL after it.
func (n *Node) restart(ctx context.Context) (raft.Node, error) {
	disk, loaded, err := storage.Open(n.lg, n.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.disk = disk
	md := loaded.Metadata
	if err := bootstrap.CheckDataDir(md, n.cfg.Name, n.cfg.InitialClusterToken); err != nil {
		return nil, err
	}
	n.id, n.clusterID, n.seeded = md.MemberID, md.ClusterID, md.Seed != ""
	resp, err := n.checkClusterOnRestart(ctx)
	if err != nil {
		return nil, err
	}
	if resp != nil {
		// Learn the peers on every start, not only when joining: a
		// member that joined and crashed before anything reached its
		// disk has neither members in its state nor conf changes in
		// its WAL, and knew no peer to answer (issue 8 item 9).
		n.joinPeers = resp.Members
	}
	applied := uint64(0)
	if loaded.Snapshot != nil {
		md := loaded.Snapshot.Metadata
		if err := n.kv.Recover(loaded.Snapshot.Data, md.GetIndex(), md.GetTerm()); err != nil {
			return nil, err
		}
		applied = md.GetIndex()
		n.snapIndex = applied
		n.confState = proto.Clone(loaded.Snapshot.Metadata.GetConfState()).(*raftpb.ConfState)
	}
	if n.isGone(n.id) {
		return nil, &nodeerr.ErrFenced{Reason: fmt.Sprintf("member %x was removed from the cluster", n.id)}
	}
	n.applied.Store(applied)
	if n.ms, err = storage.NewMemoryStorage(loaded); err != nil {
		return nil, err
	}
	n.walPeers = peersInEntries(loaded.Entries)
	n.lg.Info("Restarting from data dir", zap.Uint64("snapshot-index", applied), zap.Int("wal-entries", len(loaded.Entries)))
	return raft.RestartNode(n.raftConfig(n.ms, applied)), nil
}

// checkClusterOnRestart fences a data dir that belongs to another cluster
// (by the initial cluster's ID, for "new") or a member the cluster removed
// (asking the peers, best effort: unreachable peers are not an error). It
// returns the peers' answer, nil if none answered (or if they answered for
// the cluster a seeded data dir was forced away from).
func (n *Node) checkClusterOnRestart(ctx context.Context) (*peerpb.MembersResponse, error) {
	if n.cfg.InitialClusterState == ClusterStateNew && !n.seeded {
		if err := bootstrap.CheckInitialCluster(n.cfg.InitialCluster, n.cfg.InitialClusterToken, n.id, n.clusterID); err != nil {
			return nil, err
		}
	}
	if len(n.cfg.InitialCluster) == 0 {
		return nil, nil
	}
	// One pass: after a whole-cluster restart the others may be down too.
	ctx, cancel := context.WithTimeout(ctx, restartCheckTimeout)
	defer cancel()
	resp, err := bootstrap.AskOnce(ctx, n.tr, n.cfg.InitialCluster, n.cfg.Name)
	if err != nil {
		n.lg.Info("No peer answered the restart check; continuing", zap.Error(err))
		return nil, nil
	}
	if resp.ClusterId != n.clusterID && n.seeded {
		// A forced member's old peers still answer with the old cluster:
		// they are the ones fenced out, not this member.
		n.lg.Info("Peers answer for the cluster this data dir was seeded from; ignoring them", zap.String("peer-cluster", fmt.Sprintf("%x", resp.ClusterId)))
		return nil, nil
	}
	if err := bootstrap.CheckPeersAnswer(resp, n.id, n.clusterID); err != nil {
		return nil, err
	}
	return resp, nil
}

// learnPeersLoop runs when a restarted member knows no peer at all (it
// joined and crashed before anything reached its disk, and no peer
// answered at start): it asks the initial-cluster peers until one
// answers, instead of waiting forever for messages it cannot answer.
func (n *Node) learnPeersLoop() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), restartCheckTimeout)
		resp, err := bootstrap.AskOnce(ctx, n.tr, n.cfg.InitialCluster, n.cfg.Name)
		cancel()
		if err == nil {
			if resp.ClusterId == n.clusterID {
				for _, m := range resp.Members {
					n.addPeer(m.Id, m.PeerUrls)
				}
				n.lg.Info("Learned peers from the cluster", zap.Int("members", len(resp.Members)))
				return
			}
			n.lg.Warn("Peer answered for another cluster", zap.String("cluster", fmt.Sprintf("%x", resp.ClusterId)))
		}
		if errors.Is(err, bootstrap.ErrNoPeers) {
			return
		}
		select {
		case <-time.After(learnPeersInterval):
		case <-n.stopc:
			return
		}
	}
}

// peersInEntries finds the members that conf changes in not-yet-applied
// WAL entries add, so the transport can reach them before they are applied.
func peersInEntries(ents []*raftpb.Entry) []*peerpb.Member {
	var out []*peerpb.Member
	for _, e := range ents {
		_, added, _, err := decodeConfChange(e)
		if err != nil {
			continue
		}
		for _, m := range added {
			out = append(out, &peerpb.Member{Id: m.Id, PeerUrls: m.PeerUrls})
		}
	}
	return out
}

// addKnownPeers tells the transport every member we know of so far; it
// tells whether that includes any other member.
func (n *Node) addKnownPeers() bool {
	known := len(n.walPeers) > 0 || len(n.joinPeers) > 0 || n.cfg.InitialClusterState == ClusterStateNew
	for _, m := range n.kv.Members() {
		known = known || m.Id != n.id
	}
	n.syncPeers()
	for _, m := range n.walPeers {
		n.addPeer(m.Id, m.PeerUrls)
	}
	for _, m := range n.joinPeers {
		n.addPeer(m.Id, m.PeerUrls)
	}
	if n.cfg.InitialClusterState == ClusterStateNew && !n.seeded {
		for _, p := range n.cfg.InitialCluster {
			n.addPeer(MemberID(p.Name, n.cfg.InitialClusterToken), p.PeerURLs)
		}
	}
	n.walPeers, n.joinPeers = nil, nil
	return known
}

func (n *Node) addPeer(id uint64, urls []string) {
	if id == n.id || id == 0 || len(urls) == 0 || n.isGone(id) {
		return
	}
	n.tr.AddPeer(id, urls)
}

// newTransport returns cfg.Transport or a gRPC transport on the peer URLs.
func newTransport(cfg Config) (transport.Transport, error) {
	if cfg.Transport != nil {
		return cfg.Transport, nil
	}
	return transport.NewGRPC(transport.GRPCConfig{
		Listener: cfg.PeerListener, ListenURLs: cfg.ListenPeerURLs,
		MaxMessageBytes: cfg.Limits.MaxRequestBytes + 1<<20, Logger: cfg.Logger,
		Credentials: cfg.PeerCredentials,
	})
}
