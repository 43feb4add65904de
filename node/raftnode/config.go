package raftnode

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"

	"github.com/kuberaft/kuberaft/node/limits"
	"github.com/kuberaft/kuberaft/node/raftnode/bootstrap"
	"github.com/kuberaft/kuberaft/node/raftnode/memberplan"
	"github.com/kuberaft/kuberaft/node/transport"
)

// Cluster states of Config.InitialClusterState, as etcd names them.
const (
	ClusterStateNew      = "new"
	ClusterStateExisting = "existing"
)

// Defaults, as etcd's.
const (
	DefaultHeartbeatInterval      = 100 * time.Millisecond
	DefaultElectionTimeout        = time.Second
	DefaultSnapshotCount          = 10000
	DefaultSnapshotCatchUpEntries = 5000
	DefaultRequestTimeout         = 5 * time.Second
	DefaultClusterToken           = "kuberaft"
	// DefaultMaxLearners caps learners, like etcd's --max-learners (whose
	// default, 1, is too few here: the operator adds every new member of
	// a scale-out as a learner in one change, up to 8 for spec.replicas 9).
	DefaultMaxLearners = 8
	// DefaultQuotaBackendBytes is etcd's default space quota (2 GiB).
	DefaultQuotaBackendBytes = 2 << 30
)

// Peer is one member of the initial cluster (see node/raftnode/bootstrap).
type Peer = bootstrap.Peer

// ParseInitialCluster parses etcd's --initial-cluster syntax.
var ParseInitialCluster = bootstrap.ParseInitialCluster

// MemberID and ClusterID derive an initial member's and the cluster's IDs.
var (
	MemberID  = bootstrap.MemberID
	ClusterID = bootstrap.ClusterID
)

// Config configures a node; the package doc lists every field.
type Config struct {
	Name                   string
	DataDir                string
	InitialCluster         []Peer
	InitialClusterState    string
	InitialClusterToken    string
	AdvertisePeerURLs      []string
	AdvertiseClientURLs    []string
	ListenPeerURLs         []string
	PeerListener           net.Listener
	PeerCredentials        credentials.TransportCredentials
	Transport              transport.Transport
	HeartbeatInterval      time.Duration
	ElectionTimeout        time.Duration
	SnapshotCount          uint64
	SnapshotCatchUpEntries uint64
	Limits                 limits.Limits
	QuotaBackendBytes      int64
	RequestTimeout         time.Duration
	MaxLearners            int
	Registry               *prometheus.Registry
	Logger                 *zap.Logger
	Version                string
	// RestoreFrom, if set, names a snapshot file (node/snapfile) that an
	// empty data dir is seeded from: a new single-member cluster with new
	// cluster and member IDs (seed.go).
	RestoreFrom string
	// ForceNewCluster restarts this member's existing data as the only
	// voter of a new cluster ID (etcd's --force-new-cluster). It acts once
	// per ForceID: the data dir records the ID it was forced with, and a
	// restart with the same ID is a normal restart.
	ForceNewCluster bool
	ForceID         string
	// OnApplyConfChange, if set, is called in the Ready loop with every
	// ConfState this node applies (tests record them). Must be quick.
	OnApplyConfChange func(*raftpb.ConfState)
}

// ValidatePeerURL and ValidateURL check peer and client URLs; the rules
// live in memberplan, which checks the URLs of added members too.
var (
	ValidatePeerURL = memberplan.ValidatePeerURL
	ValidateURL     = memberplan.ValidateURL
)

// withDefaults returns cfg with zero fields defaulted, or an error for a
// field that has no default.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		return cfg, errors.New("raftnode: Name is required")
	}
	if cfg.DataDir == "" {
		return cfg, errors.New("raftnode: DataDir is required")
	}
	if cfg.InitialClusterState == "" {
		cfg.InitialClusterState = ClusterStateNew
	}
	if cfg.InitialClusterState != ClusterStateNew && cfg.InitialClusterState != ClusterStateExisting {
		return cfg, fmt.Errorf("raftnode: InitialClusterState %q: want new or existing", cfg.InitialClusterState)
	}
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = DefaultClusterToken
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = DefaultElectionTimeout
	}
	if cfg.ElectionTimeout < 2*cfg.HeartbeatInterval {
		return cfg, fmt.Errorf("raftnode: ElectionTimeout %v must be at least twice HeartbeatInterval %v", cfg.ElectionTimeout, cfg.HeartbeatInterval)
	}
	if cfg.SnapshotCount == 0 {
		cfg.SnapshotCount = DefaultSnapshotCount
	}
	if cfg.SnapshotCatchUpEntries == 0 {
		cfg.SnapshotCatchUpEntries = min(DefaultSnapshotCatchUpEntries, cfg.SnapshotCount)
	}
	if err := cfg.Limits.Validate(); err != nil {
		return cfg, fmt.Errorf("raftnode: %w", err)
	}
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.RestoreFrom != "" && cfg.ForceNewCluster {
		return cfg, errors.New("raftnode: RestoreFrom and ForceNewCluster are mutually exclusive")
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	for _, u := range cfg.AdvertisePeerURLs {
		if err := ValidatePeerURL(u); err != nil {
			return cfg, fmt.Errorf("raftnode: %w", err)
		}
	}
	for _, u := range cfg.AdvertiseClientURLs {
		if err := ValidateURL(u); err != nil {
			return cfg, fmt.Errorf("raftnode: %w", err)
		}
	}
	if cfg.MaxLearners == 0 {
		cfg.MaxLearners = DefaultMaxLearners
	}
	return cfg, nil
}

// peerScheme is the scheme of this member's advertised peer URLs, which
// is the one its transport speaks: members added later must use it too.
func (cfg Config) peerScheme() string {
	for _, u := range cfg.AdvertisePeerURLs {
		if scheme, _, ok := strings.Cut(u, "://"); ok {
			return scheme
		}
	}
	return ""
}

// electionTicks is the raft ElectionTick: election timeout in heartbeats.
func (cfg Config) electionTicks() int {
	return int(cfg.ElectionTimeout / cfg.HeartbeatInterval)
}
