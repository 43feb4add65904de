package raftnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/pkg/v3/idutil"
	"go.etcd.io/etcd/pkg/v3/wait"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/metrics"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/storage"
	"github.com/kuberaft/kuberaft/node/transport"
)

// Bounds of the member-list queries at start: a joining node needs an
// answer and asks until one comes; a restarting one only checks, best
// effort and in one pass, that it was not removed meanwhile.
const (
	joinTimeout         = 10 * time.Second
	restartCheckTimeout = 2 * time.Second
	peerAskTimeout      = time.Second
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
		return nil, err
	}
	n.raft = rn
	n.reqIDs = idutil.NewGenerator(uint16(n.id), time.Now())
	n.kv.SetClusterID(n.clusterID)
	if err := n.tr.Start(handler{n}, n.id, n.clusterID); err != nil {
		rn.Stop()
		_ = n.disk.Close()
		n.tr.Stop()
		return nil, fmt.Errorf("raftnode: start transport: %w", err)
	}
	n.addKnownPeers()
	n.lg.Info("Node started", zap.String("id", fmt.Sprintf("%x", n.id)), zap.String("cluster", fmt.Sprintf("%x", n.clusterID)))
	n.goFunc(n.run)
	n.goFunc(n.proposeLoop)
	n.goFunc(n.readLoop)
	n.goFunc(n.publishLoop)
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
		cfg: cfg, lg: cfg.Logger.With(zap.String("member", cfg.Name)), kv: kv.New(), metrics: m,
		wait: wait.New(), props: newPropQueue(), applyWait: wait.NewTimeList(),
		leaderChanged: make(chan struct{}), confChanged: make(chan struct{}), confState: &raftpb.ConfState{},
		lastHeard: map[uint64]time.Time{}, readStateC: make(chan raft.ReadState, 64),
		readwaitc: make(chan struct{}, 1), readNotify: newNotifier(),
		stopc: make(chan struct{}), done: make(chan struct{}), published: make(chan struct{}),
		captureC: make(chan chan stateCapture),
	}
	if n.tr, err = newTransport(cfg); err != nil {
		return nil, err
	}
	return n, nil
}

// openRaft restarts from the data dir if it has a WAL, else bootstraps a
// new cluster or joins an existing one, per InitialClusterState.
func (n *Node) openRaft(ctx context.Context) (raft.Node, error) {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raftnode: data dir: %w", err)
	}
	if err := n.maybeSeed(); err != nil {
		return nil, err
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
		MaxUncommittedEntriesSize: 1 << 26,
		CheckQuorum:               true,
		PreVote:                   true,
		StepDownOnRemoval:         true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		Logger:                    newRaftLogger(n.lg),
	}
}

// bootstrap starts a member of a new cluster from InitialCluster.
func (n *Node) bootstrap() (raft.Node, error) {
	peers, ids, err := initialMembers(n.cfg)
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

// initialMembers turns InitialCluster into raft peers whose contexts carry
// the member metadata (applied with the bootstrap conf changes).
func initialMembers(cfg Config) ([]raft.Peer, []uint64, error) {
	if len(cfg.InitialCluster) == 0 {
		return nil, nil, errors.New("raftnode: InitialCluster is empty")
	}
	var peers []raft.Peer
	var ids []uint64
	for _, p := range cfg.InitialCluster {
		for _, u := range p.PeerURLs {
			if err := ValidateURL(u); err != nil {
				return nil, nil, fmt.Errorf("raftnode: initial cluster member %q: %w", p.Name, err)
			}
		}
		id := MemberID(p.Name, cfg.InitialClusterToken)
		if slices.Contains(ids, id) {
			return nil, nil, fmt.Errorf("raftnode: initial cluster lists %q twice", p.Name)
		}
		// Every member must build byte-identical bootstrap entries (raft
		// does not compare them), so only what all know goes in: no client
		// URLs, which each member publishes once it runs.
		m := &statepb.Member{Id: id, Name: p.Name, PeerUrls: p.PeerURLs}
		ctx, err := proto.Marshal(m)
		if err != nil {
			return nil, nil, fmt.Errorf("raftnode: marshal member: %w", err)
		}
		peers = append(peers, raft.Peer{ID: id, Context: ctx})
		ids = append(ids, id)
	}
	return peers, ids, nil
}

// join starts a member that an existing cluster added (MemberAdd or
// ChangeMembers ADD_LEARNER): it finds its ID in the member list and starts
// with an empty log; the leader catches it up by snapshot or log.
func (n *Node) join(ctx context.Context) (raft.Node, error) {
	resp, err := n.askMembers(ctx, joinTimeout)
	if err != nil {
		return nil, fmt.Errorf("raftnode: join: %w", err)
	}
	self := n.findSelf(resp.Members)
	if self == nil {
		return nil, fmt.Errorf("raftnode: join: %w: no member named %q (add it first)", nodeerr.ErrMemberNotFound, n.cfg.Name)
	}
	if !self.IsLearner && slices.Contains(resp.Started, self.Id) {
		// Joining with an empty log as a voter that already acknowledged
		// entries could let a quorum "forget" committed entries.
		return nil, &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir is empty but the cluster records member %x as a voter with data; remove it and add a new member", self.Id)}
	}
	if !self.IsLearner && !resp.FromLeader {
		// Only the leader knows whether this voter acknowledged entries
		// before publishing; joining blind could let a quorum forget
		// entries. Transient: retry.
		return nil, fmt.Errorf("raftnode: join: member %x is a voter and the leader did not answer; cannot tell whether it lost its data", self.Id)
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

// findSelf finds this member by name, or, for a member added through
// etcd's MemberAdd (which has no name), by advertised peer URL.
func (n *Node) findSelf(members []*peerpb.Member) *peerpb.Member {
	for _, m := range members {
		if m.Name == n.cfg.Name {
			return m
		}
	}
	for _, m := range members {
		if m.Name == "" && len(m.PeerUrls) > 0 && slices.Equal(m.PeerUrls, n.cfg.AdvertisePeerURLs) {
			return m
		}
	}
	return nil
}

// errNoPeers: the initial cluster names no other member to ask.
var errNoPeers = errors.New("no peer to ask in the initial cluster")

// askMembers queries the initial-cluster peers, each for at most
// peerAskTimeout within total, and prefers the leader's answer (only it
// knows which members have data).
func (n *Node) askMembers(ctx context.Context, total time.Duration) (*peerpb.MembersResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	for {
		// Peers may not be reachable yet (pods starting, names not
		// resolving): ask again until one answers or time is up.
		resp, err := n.askMembersOnce(ctx)
		if err == nil || errors.Is(err, errNoPeers) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// askMembersOnce asks every initial-cluster peer but this member once.
func (n *Node) askMembersOnce(ctx context.Context) (*peerpb.MembersResponse, error) {
	var first *peerpb.MembersResponse
	var errs []error
	for _, p := range n.cfg.InitialCluster {
		if p.Name == n.cfg.Name {
			continue
		}
		for _, u := range p.PeerURLs {
			pctx, pcancel := context.WithTimeout(ctx, peerAskTimeout)
			resp, err := n.tr.Members(pctx, u)
			pcancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if resp.FromLeader {
				return resp, nil
			}
			if first == nil {
				first = resp
			}
		}
	}
	if first != nil {
		return first, nil
	}
	if len(errs) == 0 {
		return nil, errNoPeers
	}
	return nil, fmt.Errorf("no peer answered: %w", errors.Join(errs...))
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
	if md.Name != "" && md.Name != n.cfg.Name {
		return nil, &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to member %q, not %q", md.Name, n.cfg.Name)}
	}
	if md.Token != "" && md.Token != n.cfg.InitialClusterToken {
		return nil, &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to the cluster with token %q, not %q", md.Token, n.cfg.InitialClusterToken)}
	}
	n.id, n.clusterID, n.seeded = md.MemberID, md.ClusterID, md.Seed != ""
	if err := n.checkClusterOnRestart(ctx); err != nil {
		return nil, err
	}
	applied := uint64(0)
	if loaded.Snapshot != nil {
		if err := n.kv.Restore(loaded.Snapshot.Data); err != nil {
			return nil, err
		}
		applied = loaded.Snapshot.Metadata.GetIndex()
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
// (asking the peers, best effort: unreachable peers are not an error).
func (n *Node) checkClusterOnRestart(ctx context.Context) error {
	if n.cfg.InitialClusterState == ClusterStateNew && len(n.cfg.InitialCluster) > 0 && !n.seeded {
		if _, ids, err := initialMembers(n.cfg); err == nil && slices.Contains(ids, n.id) {
			if want := ClusterID(n.cfg.InitialClusterToken, ids); want != n.clusterID {
				return &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to cluster %x, not %x", n.clusterID, want)}
			}
		}
	}
	if len(n.cfg.InitialCluster) == 0 {
		return nil
	}
	// One pass: after a whole-cluster restart the others may be down too.
	ctx, cancel := context.WithTimeout(ctx, restartCheckTimeout)
	defer cancel()
	resp, err := n.askMembersOnce(ctx)
	if err != nil {
		n.lg.Info("No peer answered the restart check; continuing", zap.Error(err))
		return nil
	}
	if resp.ClusterId != n.clusterID && n.seeded {
		// A forced member's old peers still answer with the old cluster:
		// they are the ones fenced out, not this member.
		n.lg.Info("Peers answer for the cluster this data dir was seeded from; ignoring them", zap.String("peer-cluster", fmt.Sprintf("%x", resp.ClusterId)))
		return nil
	}
	if resp.ClusterId != n.clusterID {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("data dir belongs to cluster %x but the peers are cluster %x", n.clusterID, resp.ClusterId)}
	}
	if slices.Contains(resp.Removed, n.id) {
		return &nodeerr.ErrFenced{Reason: fmt.Sprintf("member %x was removed from the cluster", n.id)}
	}
	return nil
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

// addKnownPeers tells the transport every member we know of so far.
func (n *Node) addKnownPeers() {
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
		MaxMessageBytes: int(cfg.MaxRequestBytes) + 1<<20, Logger: cfg.Logger,
	})
}
