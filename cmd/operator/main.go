// Command operator runs the kuberaft operator: the RaftCluster controller
// in a controller-runtime manager, with metrics, health probes and leader
// election.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
	"github.com/kuberaft/kuberaft/controllers/backup"
	"github.com/kuberaft/kuberaft/controllers/certs"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/recovery"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "operator:", err)
		os.Exit(1)
	}
}

type options struct {
	metricsAddr, probeAddr, clusterDomain string
	leaderElect, testHolds, metricsSecure bool
	callTimeout, changeTimeout, caOverlap time.Duration
	watchNamespaces                       string
}

func run() error {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the metrics endpoint; 0 disables it.")
	flag.BoolVar(&o.metricsSecure, "metrics-secure", true, "Serve metrics over HTTPS to callers Kubernetes authenticates (TokenReview) and authorizes (SubjectAccessReview: get on /metrics).")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect one active operator among replicas.")
	flag.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "DNS suffix of the Kubernetes cluster.")
	flag.DurationVar(&o.callTimeout, "node-call-timeout", nodeclient.DefaultCallTimeout, "Timeout of one status call to a node.")
	flag.DurationVar(&o.changeTimeout, "node-change-timeout", nodeclient.DefaultChangeTimeout, "Timeout of one membership change or leader move.")
	flag.StringVar(&o.watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces whose RaftClusters the operator manages; empty means all (needs cluster-wide RBAC).")
	flag.DurationVar(&o.caOverlap, "ca-rotation-overlap", certs.DefaultPolicy.Overlap,
		"How long both CAs are trusted in a managed CA rotation, before the leaves move to the new CA and again before the old one is dropped; "+
			"it must exceed the time the kubelet takes to update Secret volumes in pods (about 1-1.5 min by default).")
	flag.BoolVar(&o.testHolds, "enable-test-holds", false, "Honour the raft.kuberaft.io/test-hold-before annotation (e2e tests only).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if o.caOverlap <= 0 {
		return fmt.Errorf("--ca-rotation-overlap must be positive, got %s", o.caOverlap)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(raftv1alpha1.AddToScheme(scheme))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("cannot load a kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions(splitNamespaces(o.watchNamespaces)),
		Metrics:                metricsOptions(o),
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "operator.raft.kuberaft.io",
		// A replaced operator (upgrade, helm reinstall) would otherwise wait
		// for the old lease to expire (~15 s) before acting. Releasing on
		// stop is safe because run returns as soon as the manager stops.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("cannot create manager: %w", err)
	}
	// The reconciler fills the store with the operator's client identity
	// per cluster; the node client dials every TLS member with it.
	identities := nodeclient.NewTLSStore()
	nodes := nodeclient.NewGRPC(nodeclient.Options{ClusterDomain: o.clusterDomain, CallTimeout: o.callTimeout, ChangeTimeout: o.changeTimeout, TLS: identities})
	defer func() { _ = nodes.Close() }()
	r := &controllers.RaftClusterReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("raftcluster-controller"),
		Nodes: nodes, Specs: specs.Options{ClusterDomain: o.clusterDomain}, TestHolds: o.testHolds,
		TLS: identities, SecretReader: mgr.GetAPIReader(), CertPolicy: certPolicy(o.caOverlap),
		JobPods: mgr.GetAPIReader(),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up controller: %w", err)
	}
	if err := setupBackups(mgr, nodes); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("Starting manager", "clusterDomain", o.clusterDomain, "leaderElect", o.leaderElect,
		"watchNamespaces", o.watchNamespaces)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// certPolicy is the default PKI policy with the CA overlap of the flag.
func certPolicy(overlap time.Duration) certs.Policy {
	p := certs.DefaultPolicy
	p.Overlap = overlap
	return p
}

// splitNamespaces parses --watch-namespaces: names separated by commas,
// blanks ignored.
func splitNamespaces(flagValue string) []string {
	var out []string
	for _, ns := range strings.Split(flagValue, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// metricsOptions serves metrics the way kubebuilder projects do: HTTPS
// with controller-runtime's authentication and authorization filter
// (replacing kube-rbac-proxy), with a self-signed certificate unless one
// is mounted, and HTTP/1.1 only (HTTP/2 Rapid Reset and Stream
// Cancellation advisories).
func metricsOptions(o options) metricsserver.Options {
	if !o.metricsSecure {
		return metricsserver.Options{BindAddress: o.metricsAddr}
	}
	return metricsserver.Options{
		BindAddress:    o.metricsAddr,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
		TLSOpts:        []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
}

// setupBackups registers the RaftBackup controller, the backup schedule
// controller (controllers/backup) and the quorum-loss recovery reporter
// (controllers/recovery).
func setupBackups(mgr ctrl.Manager, nodes *nodeclient.GRPC) error {
	b := &backup.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("raftbackup-controller"),
		Secrets: mgr.GetAPIReader(), JobPods: mgr.GetAPIReader(), Dial: backup.GRPCDialer(nodes), Address: nodes.Address}
	if err := b.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the backup controller: %w", err)
	}
	s := &backup.ScheduleReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("raftbackup-schedule")}
	if err := s.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the backup schedule controller: %w", err)
	}
	rec := &recovery.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("raftcluster-recovery")}
	if err := rec.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the recovery controller: %w", err)
	}
	return nil
}
