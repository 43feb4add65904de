// Package server exposes a node's Backend on its client port: etcd's KV,
// Cluster and Maintenance services (the subset etcdctl and clientv3 use), our
// own nodepb Membership and Counter services, and grpc.health.v1. Handlers are
// thin: validate, call the Backend, map the error through one table.
package server

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kuberaft/kuberaft/node/api/grpckeepalive"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/limits"
)

// grpcOverheadBytes is the slack etcd adds to MaxRecvMsgSize on top of
// --max-request-bytes, so an oversize request reaches our own check and
// gets etcd's "request is too large" instead of a transport error.
const grpcOverheadBytes = 512 * 1024

// Config configures the client-facing gRPC services.
type Config struct {
	// Backend serves every call; required.
	Backend Backend
	// Limits every request is checked against; zero fields mean their
	// defaults.
	Limits limits.Limits
	// WatchProgressNotifyInterval is how often an idle watch created with
	// progress_notify gets a progress response; 0 means
	// DefaultWatchProgressNotifyInterval.
	WatchProgressNotifyInterval time.Duration
	// MembershipAllowedCNs, when set, restricts membership and leadership
	// changes to verified client certificates with one of these common
	// names (see membershipMethods). Set it whenever the client port
	// verifies client certificates; nil leaves the calls open (plaintext).
	MembershipAllowedCNs []string
	// Logger; nil means no logging.
	Logger *zap.Logger
}

// Server holds the client-facing services of one node.
type Server struct {
	cfg    Config
	health *health.Server
}

// New returns the services; call GRPCServer to get a server to Serve.
func New(cfg Config) *Server {
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.WatchProgressNotifyInterval <= 0 {
		cfg.WatchProgressNotifyInterval = DefaultWatchProgressNotifyInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Server{cfg: cfg, health: health.NewServer()}
	// NOT_SERVING until the owner says the node is ready (SetServing).
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// GRPCServer builds a grpc.Server with every client service registered, the
// request-size limit, the keepalive policy clients rely on and the
// at-most-once interceptor installed. extra
// options (e.g. TLS credentials) are appended.
func (s *Server) GRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	interceptors := []grpc.UnaryServerInterceptor{clientSeqInterceptor}
	if s.cfg.MembershipAllowedCNs != nil {
		// First: a refused caller never reaches anything else.
		interceptors = append([]grpc.UnaryServerInterceptor{membershipAuthz(s.cfg.MembershipAllowedCNs)}, interceptors...)
	}
	opts := append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.Limits.MaxRequestBytes + grpcOverheadBytes),
		// Allow the operator's keepalive pings (one shared contract).
		grpc.KeepaliveEnforcementPolicy(grpckeepalive.EnforcementPolicy()),
		grpc.ChainUnaryInterceptor(interceptors...),
	}, extra...)
	g := grpc.NewServer(opts...)
	s.Register(g)
	return g
}

// Register adds every client service to g. Auth is registered with etcd's
// Unimplemented server so clients get a clean Unimplemented instead of
// "unknown service".
func (s *Server) Register(g grpc.ServiceRegistrar) {
	pb.RegisterKVServer(g, &kvServer{s: s})
	pb.RegisterClusterServer(g, &clusterServer{s: s})
	pb.RegisterMaintenanceServer(g, &maintenanceServer{s: s})
	pb.RegisterWatchServer(g, &watchServer{s: s})
	pb.RegisterLeaseServer(g, &leaseServer{s: s})
	pb.RegisterAuthServer(g, pb.UnimplementedAuthServer{})
	nodepb.RegisterMembershipServer(g, &membershipServer{s: s})
	nodepb.RegisterCounterServer(g, &counterServer{s: s})
	healthpb.RegisterHealthServer(g, s.health)
}

// SetServing flips the grpc.health.v1 status of service "" (what Kubernetes'
// native gRPC probe and etcd's robustness tests ask).
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
}

// Shutdown makes the health service report NOT_SERVING for good, so probes
// see the stop before the listener closes.
func (s *Server) Shutdown() { s.health.Shutdown() }

// header returns a response header for RPCs whose Backend call has none
// (Alarm, MoveLeader). Status is local and cheap by contract.
func (s *Server) header(ctx context.Context) *pb.ResponseHeader {
	st, err := s.cfg.Backend.Status(ctx)
	if err != nil {
		return &pb.ResponseHeader{}
	}
	return &pb.ResponseHeader{ClusterId: st.GetClusterId(), MemberId: st.GetId(), RaftTerm: st.GetTerm()}
}
