package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kuberaft/kuberaft/node/compactor"
	"github.com/kuberaft/kuberaft/node/health"
	"github.com/kuberaft/kuberaft/node/metrics"
	"github.com/kuberaft/kuberaft/node/nodeerr"
	"github.com/kuberaft/kuberaft/node/raftnode"
	"github.com/kuberaft/kuberaft/node/server"
)

// readinessInterval is how often the gRPC health status is recomputed from
// the /readyz checks.
const readinessInterval = time.Second

// runNode runs the member until ctx is cancelled (graceful stop) or the
// node stops by itself, and returns the exit code.
func runNode(ctx context.Context, o options, stderr io.Writer) int {
	log := newLogger(o.level, stderr)
	defer func() { _ = log.Sync() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	probes := health.New(health.Config{Gatherer: reg})
	// Probes first: Kubernetes sees the process (and, if it comes to it,
	// why it is fenced) even while the node replays its WAL.
	var handler http.Handler = probes
	if o.enablePprof {
		handler = withPprof(probes)
	}
	stopHTTP, err := serveHTTP(o.metricAddrs, handler, log)
	if err != nil {
		log.Error("Failed to listen for metrics", zap.Error(err))
		return exitFailure
	}
	defer stopHTTP()
	creds, err := newCredentials(o, log)
	if err != nil {
		log.Error("Failed to load the TLS files", zap.Error(err))
		return exitFailure
	}
	clientLis, err := listenAll(o.clientAddrs)
	if err != nil {
		log.Error("Failed to listen for clients", zap.Error(err))
		return exitFailure
	}

	node, err := startNode(ctx, o, creds.peer, reg, log)
	var fenced *nodeerr.ErrFenced
	if errors.As(err, &fenced) {
		closeAll(clientLis)
		return fence(ctx, log, probes, reg, fenced, o.fencedGracePeriod)
	}
	if err != nil {
		closeAll(clientLis)
		log.Error("Failed to start the node", zap.Error(err))
		return exitFailure
	}
	probes.SetNode(node)
	return serve(ctx, o, node, clientLis, creds.client, probes, reg, log)
}

// serve answers clients until ctx is cancelled (graceful stop) or the node
// stops by itself (removed from the cluster, storage failure).
func serve(ctx context.Context, o options, node *raftnode.Node, clientLis []net.Listener, clientCreds credentials.TransportCredentials, probes *health.Handler, reg prometheus.Registerer, log *zap.Logger) int {
	cfg := o.serverConfig(node, log)
	var extra []grpc.ServerOption
	if clientCreds != nil {
		extra = append(extra, grpc.Creds(clientCreds))
	}
	if verifiesClients(o.clientTLS) {
		cfg.MembershipAllowedCNs = o.membershipAllowedCNs
	}
	srv := server.New(cfg)
	g := srv.GRPCServer(extra...)
	for _, l := range clientLis {
		go func() { _ = g.Serve(l) }()
	}
	readyCtx, stopReady := context.WithCancel(context.Background())
	defer stopReady()
	go followReadiness(readyCtx, probes, srv, log)
	if err := startCompactor(readyCtx, o, node, log); err != nil {
		log.Error("Auto-compaction not started", zap.Error(err))
	}
	log.Info("Serving clients", zap.Strings("listen-client-urls", o.listenClientURLs), zap.Uint64("id", node.ID()))

	select {
	case <-ctx.Done():
		stopReady()
		return gracefulStop(log, srv, g, node, o.stopTimeout)
	case <-node.Done():
	}
	stopReady()
	srv.Shutdown()
	g.Stop()
	var fenced *nodeerr.ErrFenced
	if errors.As(node.Err(), &fenced) {
		return fence(ctx, log, probes, reg, fenced, o.fencedGracePeriod)
	}
	if err := node.Err(); err != nil {
		log.Error("Node stopped", zap.Error(err))
		return exitFailure
	}
	return exitOK
}

// nodeConfig is the raftnode configuration the flags give.
func (o options) nodeConfig(reg *prometheus.Registry, log *zap.Logger) raftnode.Config {
	return raftnode.Config{
		Name:                   o.name,
		DataDir:                o.dataDir,
		InitialCluster:         o.peers,
		InitialClusterState:    o.initialClusterState,
		InitialClusterToken:    o.initialClusterToken,
		AdvertisePeerURLs:      o.initialAdvertisePeer,
		AdvertiseClientURLs:    o.advertiseClientURLs,
		ListenPeerURLs:         o.listenPeerURLs,
		HeartbeatInterval:      time.Duration(o.heartbeatMS) * time.Millisecond,
		ElectionTimeout:        time.Duration(o.electionMS) * time.Millisecond,
		SnapshotCount:          o.snapshotCount,
		SnapshotCatchUpEntries: o.snapshotCatchupEntries,
		Limits:                 o.limits,
		QuotaBackendBytes:      o.quotaBackendBytes,
		Registry:               reg,
		Logger:                 log,
		Version:                version,
		RestoreFrom:            o.restoreFrom,
		ForceNewCluster:        o.forcesNewCluster(),
		ForceID:                o.forceNewClusterID,
	}
}

// serverConfig is the client server's configuration; it gets the same
// Limits as the node.
func (o options) serverConfig(node server.Backend, log *zap.Logger) server.Config {
	return server.Config{Backend: node, Limits: o.limits, Logger: log}
}

// startNode builds the raftnode config and starts the node. Start is
// aborted by a signal, but the node, once started, is stopped only by
// gracefulStop: its lifetime is not tied to the signal context.
func startNode(ctx context.Context, o options, peerCreds credentials.TransportCredentials, reg *prometheus.Registry, log *zap.Logger) (*raftnode.Node, error) {
	cfg := o.nodeConfig(reg, log)
	cfg.PeerCredentials = peerCreds
	startCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	started := make(chan struct{})
	defer close(started)
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-started:
		}
	}()
	log.Info("Starting the node", zap.String("name", o.name), zap.String("data-dir", o.dataDir),
		zap.String("initial-cluster-state", o.initialClusterState), zap.Strings("listen-peer-urls", o.listenPeerURLs))
	return raftnode.Start(startCtx, cfg)
}

// fence reports why the node refused to run, keeps /livez and /readyz up
// for the grace period so Kubernetes can show the reason, and returns the
// fenced exit code.
func fence(ctx context.Context, log *zap.Logger, probes *health.Handler, reg prometheus.Registerer, fenced *nodeerr.ErrFenced, grace time.Duration) int {
	log.Error("Node fenced; refusing to join the cluster", zap.String("reason", fenced.Reason), zap.Int("exit-code", exitFenced))
	probes.SetFenced(fenced.Reason)
	if err := metrics.RegisterFenced(reg); err != nil {
		log.Warn("Cannot report the fencing as a metric", zap.Error(err))
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return exitFenced
}

// gracefulStop marks the node NOT_SERVING, drains client calls, then stops
// the node, which first hands leadership to the most caught-up voter.
func gracefulStop(log *zap.Logger, srv *server.Server, g *grpc.Server, node *raftnode.Node, timeout time.Duration) int {
	log.Info("Stopping gracefully", zap.Duration("timeout", timeout))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	srv.Shutdown()
	drained := make(chan struct{})
	go func() { g.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(timeout / 2):
		log.Info("Client calls did not drain in time; closing them")
		g.Stop()
	}
	if err := node.Stop(ctx); err != nil {
		log.Error("Graceful stop failed", zap.Error(err))
		return exitFailure
	}
	log.Info("Stopped")
	return exitOK
}

// followReadiness keeps the gRPC health status equal to /readyz, so native
// Kubernetes gRPC probes and HTTP probes agree.
func followReadiness(ctx context.Context, probes *health.Handler, srv *server.Server, log *zap.Logger) {
	t := time.NewTicker(readinessInterval)
	defer t.Stop()
	ready := false
	for {
		checkCtx, cancel := context.WithTimeout(ctx, 2*readinessInterval)
		err := probes.Ready(checkCtx)
		cancel()
		if (err == nil) != ready {
			ready = err == nil
			log.Info("Readiness changed", zap.Bool("ready", ready), zap.NamedError("reason", err))
			srv.SetServing(ready)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveHTTP serves the probe handler on every address; stop shuts them down.
func serveHTTP(addrs []string, h http.Handler, log *zap.Logger) (stop func(), err error) {
	lis, err := listenAll(addrs)
	if err != nil {
		return nil, err
	}
	var srvs []*http.Server
	for _, l := range lis {
		s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		srvs = append(srvs, s)
		go func() {
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("Metrics server failed", zap.Error(err))
			}
		}()
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, s := range srvs {
			wg.Go(func() { _ = s.Shutdown(ctx) })
		}
		wg.Wait()
	}, nil
}

func listenAll(addrs []string) ([]net.Listener, error) {
	var out []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		_ = l.Close()
	}
}

// withPprof adds net/http/pprof's handlers under /debug/pprof/ (etcd's
// --enable-pprof), for profiling a node under load.
func withPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// newLogger is zap's production JSON logger at the given level, on stderr.
func newLogger(level zapcore.Level, w io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), level)
	return zap.New(core, zap.AddCaller())
}

// compactTarget adapts the node to the compactor.
type compactTarget struct{ *raftnode.Node }

func (t compactTarget) IsLeader() bool { return t.Leader() == t.ID() }

// startCompactor runs etcd-style auto-compaction (if configured) until ctx
// ends.
func startCompactor(ctx context.Context, o options, node *raftnode.Node, log *zap.Logger) error {
	cfg := o.compaction
	cfg.Logger = log
	c, err := compactor.New(cfg, compactTarget{node})
	if err != nil || c == nil {
		return err
	}
	log.Info("Auto-compaction enabled", zap.String("mode", cfg.Mode), zap.Duration("interval", c.Interval()))
	go c.Run(ctx)
	return nil
}
