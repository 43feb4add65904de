package raftnode

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

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
	DefaultMaxRequestBytes        = 1536 * 1024
	DefaultRequestTimeout         = 5 * time.Second
	DefaultClusterToken           = "kuberaft"
)

// Peer is one member of the initial cluster.
type Peer struct {
	Name     string
	PeerURLs []string
}

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
	Transport              transport.Transport
	HeartbeatInterval      time.Duration
	ElectionTimeout        time.Duration
	SnapshotCount          uint64
	SnapshotCatchUpEntries uint64
	MaxRequestBytes        uint
	RequestTimeout         time.Duration
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

// ParseInitialCluster parses etcd's --initial-cluster syntax,
// "name1=http://a:2380,name2=http://b:2380" (a name may repeat to give
// several URLs).
func ParseInitialCluster(s string) ([]Peer, error) {
	var peers []Peer
	index := map[string]int{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, u, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("initial cluster entry %q: want name=url", item)
		}
		if err := ValidateURL(u); err != nil {
			return nil, fmt.Errorf("initial cluster entry %q: %w", item, err)
		}
		if i, seen := index[name]; seen {
			peers[i].PeerURLs = append(peers[i].PeerURLs, u)
			continue
		}
		index[name] = len(peers)
		peers = append(peers, Peer{Name: name, PeerURLs: []string{u}})
	}
	if len(peers) == 0 {
		return nil, errors.New("initial cluster is empty")
	}
	return peers, nil
}

// ValidateURL accepts http(s)://host:port URLs, the only form peers use.
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("malformed URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q: scheme must be http or https", s)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		return fmt.Errorf("URL %q: want host:port", s)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("URL %q: must not have a path", s)
	}
	return nil
}

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
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.RestoreFrom != "" && cfg.ForceNewCluster {
		return cfg, errors.New("raftnode: RestoreFrom and ForceNewCluster are mutually exclusive")
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	for _, u := range append(append([]string{}, cfg.AdvertisePeerURLs...), cfg.AdvertiseClientURLs...) {
		if err := ValidateURL(u); err != nil {
			return cfg, fmt.Errorf("raftnode: %w", err)
		}
	}
	return cfg, nil
}

// electionTicks is the raft ElectionTick: election timeout in heartbeats.
func (cfg Config) electionTicks() int {
	return int(cfg.ElectionTimeout / cfg.HeartbeatInterval)
}
