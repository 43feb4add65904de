package raftnode

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/pkg/v3/wait"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
	"github.com/kuberaft/kuberaft/node/kv"
	"github.com/kuberaft/kuberaft/node/metrics"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode/proposal"
	"github.com/kuberaft/kuberaft/node/storage"
	"github.com/kuberaft/kuberaft/node/transport"
)

// Node is one running replica. It implements node/server.Backend.
type Node struct {
	cfg       Config
	lg        *zap.Logger
	id        uint64
	clusterID uint64

	raft    raft.Node
	ms      *raft.MemoryStorage
	disk    *storage.Storage
	kv      *kv.Store
	tr      transport.Transport
	metrics *metrics.Metrics
	rtt     *rttTracker // heartbeat round trips (rtt.go)

	reqIDs    *requestIDs
	leaderRPC leaderConns     // client connections to the leader (lease.go)
	props     *proposal.Queue // proposals on their way into raft (batch.go)
	wait      wait.Wait       // request id → apply result
	applyWait wait.WaitTime
	applied   atomic.Uint64
	committed atomic.Uint64

	// Owned by the Ready loop.
	snapIndex   uint64
	snapPending bool                 // a snapshot's store commit is in flight
	snapDone    chan pendingSnapshot // its completion (capacity 1)
	// Peers to tell the transport about at start (then nil).
	walPeers, joinPeers []*peerpb.Member

	mu            sync.RWMutex
	lead, term    uint64
	leaderChanged chan struct{} // closed and replaced on every leader change
	confState     *raftpb.ConfState
	confChanged   chan struct{} // closed and replaced on every applied conf change

	heardMu   sync.Mutex
	lastHeard map[uint64]time.Time // when each peer last sent us a message
	// lastReject is when each peer last refused an append: its log does
	// not hold what the leader's Progress.Match claims (e.g. it restarted
	// empty), so that Match must not justify a promotion.
	lastReject map[uint64]time.Time

	readStateC chan raft.ReadState
	readwaitc  chan struct{}
	readMu     sync.Mutex
	readNotify *notifier

	published chan struct{} // closed once publishLoop is done

	// confSlot holds one token while a membership change runs on this
	// leader: changes are planned and applied one at a time.
	confSlot chan struct{}
	// captureC asks the Ready loop for a consistent state capture (backup.go).
	captureC chan chan stateCapture
	// seeded: the data dir came from --restore-from or --force-new-cluster,
	// not from the initial cluster, whose IDs therefore do not apply.
	seeded bool

	stopOnce sync.Once
	stopc    chan struct{} // closed to stop every goroutine
	wg       sync.WaitGroup
	done     chan struct{}
	errMu    sync.Mutex
	err      error
}

// ID is this member's raft ID.
func (n *Node) ID() uint64 { return n.id }

// ClusterID identifies the cluster.
func (n *Node) ClusterID() uint64 { return n.clusterID }

// Name is this member's name.
func (n *Node) Name() string { return n.cfg.Name }

// Done is closed when the node has stopped, by Stop or a fatal error.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err is why the node stopped: nil after Stop, *nodeerr.ErrFenced when the
// cluster removed this member while it ran, or a storage error.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// Leader is the leader this node knows (0: none).
func (n *Node) Leader() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.lead
}

// AppliedIndex is the last raft index applied to the state machine.
func (n *Node) AppliedIndex() uint64 { return n.applied.Load() }

// IsLearner tells whether this member is a learner in the applied
// configuration.
func (n *Node) IsLearner() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, id := range n.confState.GetLearners() {
		if id == n.id {
			return true
		}
	}
	return false
}

// fail stops the node because of err (first error wins).
func (n *Node) fail(err error) {
	n.errMu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.errMu.Unlock()
	n.lg.Error("Stopping node", zap.Error(err))
	n.stopOnce.Do(func() { close(n.stopc) })
}

// Stop stops the node. A leader first hands leadership to the most
// caught-up voter, so the cluster does not wait an election timeout
// (bounded by ctx and two election timeouts).
func (n *Node) Stop(ctx context.Context) error {
	select {
	case <-n.stopc:
	default:
		n.transferOnStop(ctx)
		n.stopOnce.Do(func() { close(n.stopc) })
	}
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("raftnode: stop: %w", ctx.Err())
	}
}

func (n *Node) transferOnStop(ctx context.Context) {
	if n.Leader() != n.id || ctx.Err() != nil {
		return
	}
	target := n.mostCaughtUpVoter()
	if target == 0 {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, 2*n.cfg.ElectionTimeout)
	defer cancel()
	n.lg.Info("Transferring leadership before stopping", zap.String("to", fmt.Sprintf("%x", target)))
	if err := n.MoveLeader(tctx, target); err != nil {
		n.lg.Warn("Leadership transfer before stop failed", zap.Error(err))
	}
}

// cleanup releases everything once every goroutine has seen stopc.
func (n *Node) cleanup() {
	<-n.stopc
	n.wg.Wait()
	n.raft.Stop()
	n.tr.Stop()
	if err := n.disk.Close(); err != nil {
		n.lg.Warn("Closing storage failed", zap.Error(err))
	}
	if err := n.kv.Close(); err != nil {
		n.lg.Warn("Closing the store failed", zap.Error(err))
	}
	n.leaderRPC.closeAll()
	close(n.done)
}

// leaderState returns the leader, term and the channel closed at the next
// leader change.
func (n *Node) leaderState() (lead, term uint64, changed <-chan struct{}) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.lead, n.term, n.leaderChanged
}

func (n *Node) stopped() error {
	if err := n.Err(); err != nil {
		return fmt.Errorf("%w: %w", nodeerr.ErrStopped, err)
	}
	return nodeerr.ErrStopped
}
