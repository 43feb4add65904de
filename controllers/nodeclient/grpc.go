package nodeclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kuberaft/kuberaft/node/api/grpckeepalive"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// DefaultCallTimeout bounds one RPC when Options.CallTimeout is zero. A
// membership change returns only once applied, so it gets ChangeTimeout.
const (
	DefaultCallTimeout   = 3 * time.Second
	DefaultChangeTimeout = 15 * time.Second
	DefaultClientPort    = 2379
	DefaultMetricsPort   = 8080
)

// Options configure the gRPC NodeClient.
type Options struct {
	// ClusterDomain is the cluster's DNS suffix; default cluster.local.
	ClusterDomain string
	// Port is the node's client port; default 2379. MetricsPort serves
	// HTTP /status; default 8080.
	Port, MetricsPort int
	// CallTimeout bounds read-only calls; ChangeTimeout bounds ChangeMembers
	// and MoveLeader.
	CallTimeout, ChangeTimeout time.Duration
	// Address overrides how an endpoint becomes host:port (tests, or an
	// operator running outside the cluster with port-forwards).
	Address func(Endpoint) string
	// HTTPAddress overrides the host:port of the node's HTTP /status.
	HTTPAddress func(Endpoint) string
	// DialOptions are added to the defaults (transport credentials,
	// grpckeepalive's client parameters).
	DialOptions []grpc.DialOption
	// TLS holds the operator's client identity per cluster; members of a
	// cluster it has no identity for are dialed in plaintext.
	TLS *TLSStore
}

// GRPC is the NodeClient over the node's client port. It keeps one
// connection per address and reuses it across reconcile loops: gRPC
// reconnects by itself, so a cached connection to a restarted pod heals.
type GRPC struct {
	opts  Options
	http  *http.Client
	mu    sync.Mutex
	conns map[string]*cachedConn
	now   func() time.Time
}

// cachedConn is a connection and when it was last used; connections idle
// longer than IdleTimeout (pods of deleted clusters, scaled-in members) are
// closed.
type cachedConn struct {
	cc       *grpc.ClientConn
	lastUsed time.Time
}

// IdleTimeout is how long an unused connection is kept.
const IdleTimeout = 10 * time.Minute

var _ NodeClient = (*GRPC)(nil)

// NewGRPC returns a NodeClient; Close releases its connections.
func NewGRPC(opts Options) *GRPC {
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	if opts.Port == 0 {
		opts.Port = DefaultClientPort
	}
	if opts.MetricsPort == 0 {
		opts.MetricsPort = DefaultMetricsPort
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.ChangeTimeout == 0 {
		opts.ChangeTimeout = DefaultChangeTimeout
	}
	return &GRPC{opts: opts, conns: map[string]*cachedConn{}, http: &http.Client{Timeout: opts.CallTimeout}, now: time.Now}
}

// Address is the DNS address of a member's client port:
// <pod>.<peer-svc>.<ns>.svc.<domain>:<port>.
func (c *GRPC) Address(ep Endpoint) string {
	if c.opts.Address != nil {
		return c.opts.Address(ep)
	}
	return fmt.Sprintf("%s.%s.%s.svc.%s:%d", ep.Pod, ep.Service, ep.Namespace, c.opts.ClusterDomain, c.opts.Port)
}

// Conn is the cached connection to ep, for callers that speak the node's
// other services over the same credentials (the backup controller streams
// Maintenance.Snapshot through it).
func (c *GRPC) Conn(ep Endpoint) (grpc.ClientConnInterface, error) { return c.conn(ep) }

// conn returns the cached connection to ep, creating it on first use.
// grpc.NewClient does not dial; the first RPC does.
func (c *GRPC) conn(ep Endpoint) (*grpc.ClientConn, error) {
	addr := c.Address(ep)
	// Keyed by mode too: a cluster recreated with another TLS mode at the
	// same address must not reuse a connection of the wrong kind.
	useTLS := c.opts.TLS.Has(ep)
	key := addr
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if useTLS {
		key, creds = addr+"|tls", storeCreds{store: c.opts.TLS, ep: ep}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.closeIdle(now)
	if cached, ok := c.conns[key]; ok {
		cached.lastUsed = now
		return cached.cc, nil
	}
	// Keepalive pings notice a connection black-holed by an unclean node
	// loss within seconds; gRPC then reconnects (to the rescheduled pod).
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(grpckeepalive.ClientParameters())}, c.opts.DialOptions...)
	cc, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create client for %s: %w", addr, err)
	}
	c.conns[key] = &cachedConn{cc: cc, lastUsed: now}
	return cc, nil
}

// closeIdle closes the connections unused for IdleTimeout; c.mu is held.
func (c *GRPC) closeIdle(now time.Time) {
	for addr, cached := range c.conns {
		if now.Sub(cached.lastUsed) > IdleTimeout {
			_ = cached.cc.Close() // an idle connection has no call to fail
			delete(c.conns, addr)
		}
	}
}

// Close closes every cached connection.
func (c *GRPC) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for addr, cached := range c.conns {
		if err := cached.cc.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.conns, addr)
	}
	return first
}

// Status implements NodeClient.
func (c *GRPC) Status(ctx context.Context, ep Endpoint) (*Status, error) {
	cc, err := c.conn(ep)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	resp, err := nodepb.NewMembershipClient(cc).Status(ctx, &nodepb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", ep.Pod, err)
	}
	return statusFromPB(resp), nil
}

// ChangeMembers implements NodeClient.
func (c *GRPC) ChangeMembers(ctx context.Context, leader Endpoint, changes []Change) ([]Member, error) {
	cc, err := c.conn(leader)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ChangeTimeout)
	defer cancel()
	req := &nodepb.ChangeMembersRequest{}
	for _, ch := range changes {
		req.Changes = append(req.Changes, &nodepb.MemberChange{
			Type: nodepb.MemberChange_Type(ch.Type), Id: ch.ID, Name: ch.Name, PeerUrls: ch.PeerURLs,
		})
	}
	resp, err := nodepb.NewMembershipClient(cc).ChangeMembers(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("change members through %s: %w", leader.Pod, err)
	}
	return membersFromPB(resp.GetMembers()), nil
}

// MoveLeader implements NodeClient with etcd's Maintenance.MoveLeader.
func (c *GRPC) MoveLeader(ctx context.Context, leader Endpoint, target uint64) error {
	cc, err := c.conn(leader)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.ChangeTimeout)
	defer cancel()
	if _, err := pb.NewMaintenanceClient(cc).MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: target}); err != nil {
		return fmt.Errorf("move leader from %s to %x: %w", leader.Pod, target, err)
	}
	return nil
}

// MemberList implements NodeClient with etcd's Cluster.MemberList.
func (c *GRPC) MemberList(ctx context.Context, ep Endpoint) ([]Member, error) {
	cc, err := c.conn(ep)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	resp, err := pb.NewClusterClient(cc).MemberList(ctx, &pb.MemberListRequest{Linearizable: true})
	if err != nil {
		return nil, fmt.Errorf("member list of %s: %w", ep.Pod, err)
	}
	out := make([]Member, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, Member{ID: m.GetID(), Name: m.GetName(), PeerURLs: m.GetPeerURLs(),
			ClientURLs: m.GetClientURLs(), IsLearner: m.GetIsLearner()})
	}
	return out, nil
}

// Fenced implements NodeClient by reading the node's HTTP /status, which
// answers {"fenced": "<reason>"} while a fenced node waits to exit.
func (c *GRPC) Fenced(ctx context.Context, ep Endpoint) (string, error) {
	addr := fmt.Sprintf("%s.%s.%s.svc.%s:%d", ep.Pod, ep.Service, ep.Namespace, c.opts.ClusterDomain, c.opts.MetricsPort)
	if c.opts.HTTPAddress != nil {
		addr = c.opts.HTTPAddress(ep)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("status page of %s: %w", ep.Pod, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Fenced string `json:"fenced"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("status page of %s: %w", ep.Pod, err)
	}
	return body.Fenced, nil
}

func statusFromPB(r *nodepb.StatusResponse) *Status {
	s := &Status{
		ID: r.GetId(), Name: r.GetName(), Role: r.GetRole(), Leader: r.GetLeader(), Term: r.GetTerm(),
		Commit: r.GetCommit(), Applied: r.GetApplied(), Joint: r.GetJoint(),
		Voters: r.GetConfState().GetVoters(), Learners: r.GetConfState().GetLearners(),
		VotersOutgoing: r.GetConfState().GetVotersOutgoing(),
		Members:        membersFromPB(r.GetMembers()), ClusterID: r.GetClusterId(), Version: r.GetVersion(),
	}
	if len(r.GetProgress()) > 0 {
		s.Progress = make(map[uint64]Progress, len(r.GetProgress()))
		for _, p := range r.GetProgress() {
			s.Progress[p.GetId()] = Progress{Match: p.GetMatch(), RecentActive: p.GetRecentActive(), IsLearner: p.GetIsLearner(),
				Promotable: p.GetPromotable(), NotPromotableReason: p.GetNotPromotableReason()}
		}
	}
	return s
}

func membersFromPB(ms []*nodepb.Member) []Member {
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, Member{ID: m.GetId(), Name: m.GetName(), PeerURLs: m.GetPeerUrls(),
			ClientURLs: m.GetClientUrls(), IsLearner: m.GetIsLearner()})
	}
	return out
}
