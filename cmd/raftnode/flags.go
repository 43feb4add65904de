package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"

	"github.com/kuberaft/kuberaft/node/compactor"
	"github.com/kuberaft/kuberaft/node/limits"
	"github.com/kuberaft/kuberaft/node/raftnode"
	"github.com/kuberaft/kuberaft/node/storage"
	"github.com/kuberaft/kuberaft/node/tlsconfig"
)

// options are the parsed command line. Flag names, defaults and units are
// etcd's (heartbeat and election in milliseconds), so an etcd command line
// and etcd's docs work unchanged for the flags we share.
type options struct {
	name                   string
	dataDir                string
	listenClientURLs       []string
	advertiseClientURLs    []string
	listenPeerURLs         []string
	initialAdvertisePeer   []string
	initialCluster         string
	initialClusterState    string
	initialClusterToken    string
	listenMetricsURLs      []string
	heartbeatMS            uint
	electionMS             uint
	snapshotCount          uint64
	snapshotCatchupEntries uint64
	limits                 limits.Limits
	quotaBackendBytes      int64
	autoCompactionMode     string
	autoCompactionRet      string
	compaction             compactor.Config
	logLevel               string
	fencedGracePeriod      time.Duration
	stopTimeout            time.Duration
	version                bool
	enablePprof            bool
	clientTLS, peerTLS     tlsconfig.Files
	membershipAllowedCNs   []string
	restoreFrom            string
	restoreMember          string
	forceNewCluster        bool
	forceNewClusterID      string
	forceNewClusterMember  string

	// Derived by validate.
	peers       []raftnode.Peer
	clientAddrs []string
	metricAddrs []string
	level       zapcore.Level
}

// errHelp is returned for --help; main exits 0 after the usage text.
var errHelp = pflag.ErrHelp

// parseFlags parses and validates args. pflag (not the standard flag
// package) because it gives GNU-style --long flags with the exact spelling
// etcd documents, comma-separated list flags (StringSlice) for the URL
// lists, and is what etcdctl and the Kubernetes components use, so the
// operator's pod specs read the same as theirs.
func parseFlags(args []string, usage io.Writer) (options, error) {
	var o options
	fs := pflag.NewFlagSet("raftnode", pflag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&o.name, "name", "default", "Human-readable name for this member.")
	fs.StringVar(&o.dataDir, "data-dir", "", "Path to the data directory (default ${name}.etcd).")
	fs.StringSliceVar(&o.listenClientURLs, "listen-client-urls", []string{"http://localhost:2379"}, "List of URLs to listen on for client gRPC traffic.")
	fs.StringSliceVar(&o.advertiseClientURLs, "advertise-client-urls", []string{"http://localhost:2379"}, "List of this member's client URLs to advertise to the rest of the cluster.")
	fs.StringSliceVar(&o.listenPeerURLs, "listen-peer-urls", []string{"http://localhost:2380"}, "List of URLs to listen on for peer traffic.")
	fs.StringSliceVar(&o.initialAdvertisePeer, "initial-advertise-peer-urls", []string{"http://localhost:2380"}, "List of this member's peer URLs to advertise to the rest of the cluster.")
	fs.StringVar(&o.initialCluster, "initial-cluster", "default=http://localhost:2380", "Initial cluster configuration for bootstrapping: name=peerURL,...")
	fs.StringVar(&o.initialClusterState, "initial-cluster-state", raftnode.ClusterStateNew, "Initial cluster state ('new' or 'existing').")
	fs.StringVar(&o.initialClusterToken, "initial-cluster-token", "etcd-cluster", "Initial cluster token for the cluster during bootstrap.")
	fs.StringSliceVar(&o.listenMetricsURLs, "listen-metrics-urls", nil, "List of URLs to serve /livez, /readyz, /status and /metrics on.")
	fs.UintVar(&o.heartbeatMS, "heartbeat-interval", 100, "Time (in milliseconds) of a heartbeat interval.")
	fs.UintVar(&o.electionMS, "election-timeout", 1000, "Time (in milliseconds) for an election to timeout.")
	fs.Uint64Var(&o.snapshotCount, "snapshot-count", raftnode.DefaultSnapshotCount, "Number of committed transactions to trigger a snapshot to disk.")
	fs.Uint64Var(&o.snapshotCatchupEntries, "snapshot-catchup-entries", raftnode.DefaultSnapshotCatchUpEntries, "Number of entries for a slow follower to catch up after compacting the raft storage entries.")
	fs.IntVar(&o.limits.MaxRequestBytes, "max-request-bytes", limits.DefaultMaxRequestBytes, "Maximum client request size in bytes the server will accept.")
	fs.IntVar(&o.limits.MaxTxnOps, "max-txn-ops", limits.DefaultMaxTxnOps, "Maximum number of operations permitted in a transaction.")
	fs.Int64Var(&o.quotaBackendBytes, "quota-backend-bytes", 0, "Raise the NOSPACE alarm when the store would exceed this many bytes (0: the 2 GiB default, negative: no quota).")
	fs.StringVar(&o.autoCompactionMode, "auto-compaction-mode", compactor.ModePeriodic, "Interpret auto-compaction-retention as a duration ('periodic') or a number of revisions ('revision').")
	fs.StringVar(&o.autoCompactionRet, "auto-compaction-retention", "0", "Auto compaction retention: a duration (e.g. '5m') or hours for periodic mode, revisions for revision mode; 0 disables auto compaction.")
	fs.StringVar(&o.logLevel, "log-level", "info", "Configures log level. Only supports debug, info, warn, error.")
	fs.DurationVar(&o.fencedGracePeriod, "fenced-grace-period", 30*time.Second, "How long a fenced node keeps serving /livez and /readyz (so Kubernetes sees why) before it exits with code 3.")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", 10*time.Second, "Bound on the graceful stop after SIGTERM (leadership transfer, draining client calls).")
	fs.BoolVar(&o.enablePprof, "enable-pprof", false, "Serve runtime profiling data at /debug/pprof/ on --listen-metrics-urls.")
	fs.StringVar(&o.restoreFrom, "restore-from", "", "Seed an empty data dir from this snapshot file (from Maintenance.Snapshot / etcdctl snapshot save): a new single-member cluster with new cluster and member IDs. Refuses a corrupt file and a data dir that holds other data; a restart with the same file is a normal restart.")
	fs.StringVar(&o.restoreMember, "restore-member", "", "With --restore-from: only the member of this --name restores; any other starts as if --restore-from were not given. Lets every pod of a StatefulSet carry the same flags while only the first member is seeded.")
	fs.BoolVar(&o.forceNewCluster, "force-new-cluster", false, "Restart this member's existing data as the only voter of a new cluster (new cluster ID; old peers cannot rejoin). Acts once per --force-new-cluster-id: a restart with the same ID is a normal restart.")
	fs.StringVar(&o.forceNewClusterID, "force-new-cluster-id", "default", "Identifies one forced recovery; the data dir records it so --force-new-cluster acts once. Use a new value to force again.")
	fs.StringVar(&o.forceNewClusterMember, "force-new-cluster-member", "", "With --force-new-cluster: force only when --name is this member (every member of a StatefulSet shares one pod template), and only when its data dir holds data (a fresh member joins normally). Empty: force whatever the name.")
	fs.BoolVar(&o.version, "version", false, "Print the version and exit.")
	addTLSFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.version {
		return o, nil
	}
	return o, o.validate()
}

// validate checks every value and fills the derived fields.
func (o *options) validate() error {
	if o.name == "" {
		return errors.New("--name must not be empty")
	}
	if o.dataDir == "" {
		o.dataDir = o.name + ".etcd"
	}
	if err := o.validateURLs(); err != nil {
		return err
	}
	if err := o.validateRaft(); err != nil {
		return err
	}
	var err error
	if o.compaction, err = parseCompaction(o.autoCompactionMode, o.autoCompactionRet); err != nil {
		return err
	}
	if err := o.level.UnmarshalText([]byte(o.logLevel)); err != nil || o.level < zapcore.DebugLevel || o.level > zapcore.ErrorLevel {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	return nil
}

// validateURLs checks every URL flag against the TLS flags: a port with
// TLS files is served and dialed only as https, one without only as
// http, so no URL is ever served or dialed in a mode the other end does
// not speak.
func (o *options) validateURLs() error {
	clientScheme, peerScheme := scheme(o.clientTLS), scheme(o.peerTLS)
	var err error
	if o.clientAddrs, err = listenAddrs("--listen-client-urls", o.listenClientURLs, true, clientScheme); err != nil {
		return err
	}
	// Probes and metrics stay plaintext on their own port: kubelet's
	// probes present no client certificate.
	if o.metricAddrs, err = listenAddrs("--listen-metrics-urls", o.listenMetricsURLs, false, "http"); err != nil {
		return err
	}
	checks := []struct {
		flag, scheme string
		urls         []string
	}{
		{"--listen-peer-urls", peerScheme, o.listenPeerURLs},
		{"--advertise-client-urls", clientScheme, o.advertiseClientURLs},
		{"--initial-advertise-peer-urls", peerScheme, o.initialAdvertisePeer},
	}
	for _, c := range checks {
		if _, err := listenAddrs(c.flag, c.urls, true, c.scheme); err != nil {
			return err
		}
	}
	if o.peers, err = raftnode.ParseInitialCluster(o.initialCluster); err != nil {
		return fmt.Errorf("--initial-cluster: %w", err)
	}
	for _, p := range o.peers {
		if _, err := listenAddrs("--initial-cluster", p.PeerURLs, true, peerScheme); err != nil {
			return err
		}
	}
	return nil
}

// validateRaft checks the raft timing and log sizes; etcd's own rules.
func (o *options) validateRaft() error {
	if o.initialClusterState != raftnode.ClusterStateNew && o.initialClusterState != raftnode.ClusterStateExisting {
		return fmt.Errorf("--initial-cluster-state %q: want new or existing", o.initialClusterState)
	}
	if o.initialClusterState == raftnode.ClusterStateNew && !o.inInitialCluster() {
		return fmt.Errorf("--initial-cluster has no member named %q (--name)", o.name)
	}
	if o.initialClusterToken == "" {
		return errors.New("--initial-cluster-token must not be empty")
	}
	if o.heartbeatMS == 0 {
		return errors.New("--heartbeat-interval must be > 0")
	}
	if o.electionMS < 5*o.heartbeatMS {
		return fmt.Errorf("--election-timeout (%d ms) must be at least 5 times --heartbeat-interval (%d ms)", o.electionMS, o.heartbeatMS)
	}
	if o.electionMS > 50000 {
		return fmt.Errorf("--election-timeout (%d ms) is too long; the maximum is 50000 ms", o.electionMS)
	}
	if o.snapshotCount == 0 {
		return errors.New("--snapshot-count must be > 0")
	}
	if o.limits.MaxRequestBytes <= 0 || o.limits.MaxTxnOps <= 0 {
		return errors.New("--max-request-bytes and --max-txn-ops must be > 0")
	}
	if err := o.limits.Validate(); err != nil {
		return err
	}
	if o.restoreMember != "" && o.restoreFrom == "" {
		return errors.New("--restore-member needs --restore-from")
	}
	if o.restoreMember != "" && o.restoreMember != o.name {
		// Another member of a restored cluster: it joins the seeded one.
		o.restoreFrom = ""
	}
	if o.restoreMember != "" && o.initialClusterState == raftnode.ClusterStateExisting && !fileExists(o.restoreFrom) {
		// The seeded member of a cluster that formed, on a volume without
		// the file: a replacement after its volume was lost. It must start
		// as any member on an empty volume does (fenced, then replaced
		// through a learner), not crash on the missing file. While the
		// cluster is new the file must be there: starting without it
		// would bootstrap an empty cluster the user believes restored.
		o.restoreFrom = ""
	}
	if o.restoreFrom != "" && o.forceNewCluster {
		return errors.New("--restore-from and --force-new-cluster are mutually exclusive")
	}
	if o.forceNewCluster && o.forceNewClusterID == "" {
		return errors.New("--force-new-cluster-id must not be empty")
	}
	if o.fencedGracePeriod < 0 || o.stopTimeout <= 0 {
		return errors.New("--fenced-grace-period must be >= 0 and --stop-timeout > 0")
	}
	return nil
}

// forcesNewCluster tells whether this start forces a new cluster: the
// operator puts the same --force-new-cluster flags on every member pod
// (one StatefulSet template) and names the survivor with
// --force-new-cluster-member, so the other members, which join fresh with
// an empty data dir, start normally.
func (o *options) forcesNewCluster() bool {
	if !o.forceNewCluster {
		return false
	}
	if o.forceNewClusterMember == "" {
		return true
	}
	return o.forceNewClusterMember == o.name && storage.Exists(o.dataDir)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (o *options) inInitialCluster() bool {
	for _, p := range o.peers {
		if p.Name == o.name {
			return true
		}
	}
	return false
}

// listenAddrs turns scheme://host:port URLs into host:port addresses.
// Any other scheme (the other of http/https, unix) is refused with a clear
// message rather than silently served in the wrong mode.
func listenAddrs(flag string, urls []string, required bool, scheme string) ([]string, error) {
	if required && len(urls) == 0 {
		return nil, fmt.Errorf("%s must not be empty", flag)
	}
	var addrs []string
	for _, s := range urls {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s: malformed URL %q: %w", flag, s, err)
		}
		if u.Scheme != scheme {
			return nil, fmt.Errorf("%s: URL %q: scheme must be %s (%s)", flag, s, scheme, schemeReason[scheme])
		}
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return nil, fmt.Errorf("%s: URL %q: want %s://host:port", flag, s, scheme)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("%s: URL %q: must not have a path", flag, s)
		}
		addrs = append(addrs, u.Host)
	}
	return addrs, nil
}

// parseCompaction reads etcd's auto-compaction flags: in periodic mode the
// retention is a duration, or a bare number of hours; in revision mode a
// number of revisions.
func parseCompaction(mode, retention string) (compactor.Config, error) {
	cfg := compactor.Config{Mode: mode}
	switch mode {
	case compactor.ModePeriodic:
		if h, err := strconv.ParseInt(retention, 10, 64); err == nil {
			cfg.Retention = time.Duration(h) * time.Hour
		} else if cfg.Retention, err = time.ParseDuration(retention); err != nil {
			return cfg, fmt.Errorf("--auto-compaction-retention %q: want a duration or a number of hours", retention)
		}
	case compactor.ModeRevision:
		var err error
		if cfg.Revisions, err = strconv.ParseInt(retention, 10, 64); err != nil {
			return cfg, fmt.Errorf("--auto-compaction-retention %q: want a number of revisions", retention)
		}
	default:
		return cfg, fmt.Errorf("--auto-compaction-mode %q: want periodic or revision", mode)
	}
	if cfg.Retention < 0 || cfg.Revisions < 0 {
		return cfg, fmt.Errorf("--auto-compaction-retention %q must not be negative", retention)
	}
	return cfg, nil
}
