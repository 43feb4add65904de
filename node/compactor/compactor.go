// Package compactor is etcd's --auto-compaction-mode/-retention for the
// node: on the leader, it periodically proposes a compaction that keeps
// the configured history (etcd's server/etcdserver/api/v3compactor). Only
// the leader compacts, so a cluster proposes one compaction per period;
// the compaction itself is replicated (node/kv).
package compactor

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Modes, as etcd's flag values.
const (
	ModePeriodic = "periodic"
	ModeRevision = "revision"
)

// revisionInterval is how often revision mode compacts (etcd's
// revInterval, 5 minutes).
const revisionInterval = 5 * time.Minute

// maxPeriodicInterval caps how often periodic mode samples the revision:
// retention/10, but at least hourly, as etcd's periodic compactor.
const maxPeriodicInterval = time.Hour

// Target is what the compactor needs from the node.
type Target interface {
	// Revision is the applied store revision.
	Revision() int64
	// IsLeader tells whether this member leads (only the leader compacts).
	IsLeader() bool
	// Compact replicates a compaction.
	Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error)
}

// Config is the parsed flags. Retention is a duration for periodic mode
// and a revision count for revision mode.
type Config struct {
	Mode      string
	Retention time.Duration
	Revisions int64
	Logger    *zap.Logger
}

// Compactor decides, at each tick, what to compact. It holds no goroutine:
// Run drives it from a ticker, tests call Tick directly.
type Compactor struct {
	cfg    Config
	target Target
	// samples are (time, revision) pairs seen on ticks, oldest first
	// (periodic mode).
	samples []sample
	last    int64 // last revision compacted to
}

type sample struct {
	at  time.Time
	rev int64
}

// New checks cfg and returns a compactor for target; nil when disabled
// (empty mode, or zero retention, as etcd).
func New(cfg Config, target Target) (*Compactor, error) {
	switch cfg.Mode {
	case "":
		return nil, nil
	case ModePeriodic:
		if cfg.Retention < 0 {
			return nil, fmt.Errorf("compactor: negative retention %v", cfg.Retention)
		}
		if cfg.Retention == 0 {
			return nil, nil
		}
	case ModeRevision:
		if cfg.Revisions < 0 {
			return nil, fmt.Errorf("compactor: negative retention %d", cfg.Revisions)
		}
		if cfg.Revisions == 0 {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("compactor: unknown mode %q (want %q or %q)", cfg.Mode, ModePeriodic, ModeRevision)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Compactor{cfg: cfg, target: target}, nil
}

// Interval is how often Tick should run.
func (c *Compactor) Interval() time.Duration {
	if c.cfg.Mode == ModeRevision {
		return revisionInterval
	}
	return min(max(c.cfg.Retention/10, time.Second), maxPeriodicInterval)
}

// Run ticks until ctx ends.
func (c *Compactor) Run(ctx context.Context) {
	t := time.NewTicker(c.Interval())
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			c.Tick(ctx, now)
		case <-ctx.Done():
			return
		}
	}
}

// Tick samples the revision and, on the leader, compacts to the revision
// that falls out of the retention: for periodic mode the newest revision
// sampled at least Retention ago, for revision mode the current revision
// minus Retention.
func (c *Compactor) Tick(ctx context.Context, now time.Time) {
	rev := c.target.Revision()
	target := c.due(now, rev)
	if target <= c.last || !c.target.IsLeader() {
		return
	}
	c.cfg.Logger.Info("Auto-compacting", zap.String("mode", c.cfg.Mode), zap.Int64("revision", target))
	_, err := c.target.Compact(ctx, &pb.CompactionRequest{Revision: target})
	switch {
	case err == nil, errors.Is(err, nodeerr.ErrCompacted):
		// Compacted already (e.g. by a client, or before a leader change)
		// counts as done.
		c.last = target
	default:
		c.cfg.Logger.Warn("Auto-compaction failed; retrying at the next tick", zap.Int64("revision", target), zap.Error(err))
	}
}

// due records a sample and returns the revision to compact to (0: none).
func (c *Compactor) due(now time.Time, rev int64) int64 {
	if c.cfg.Mode == ModeRevision {
		return rev - c.cfg.Revisions
	}
	c.samples = append(c.samples, sample{at: now, rev: rev})
	var target int64
	for len(c.samples) > 0 && now.Sub(c.samples[0].at) >= c.cfg.Retention {
		target = c.samples[0].rev
		c.samples = c.samples[1:]
	}
	return target
}
