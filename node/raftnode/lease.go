package raftnode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/clientseq"
	"github.com/kuberaft/kuberaft/node/nodeerr"
)

// Leases (etcd's lessor in node/kv): grants and revokes are replicated;
// the leader's lessor alone expires leases (promoted once the leader
// applied its term's first entry, demoted when leadership moves, so a
// lease never expires during an election) and its expiries become
// replicated revokes here; renewals happen on the leader only, as etcd's
// (not replicated; a follower forwards them to the leader).

// LeaseGrant replicates a grant. The proposer picks the ID when the client
// did not (etcd's reqIDGen, kept positive).
func (n *Node) LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	r := proto.Clone(req).(*pb.LeaseGrantRequest)
	if r.ID == 0 {
		r.ID = int64(n.reqIDs.Next() & math.MaxInt64)
	}
	resp, err := n.proposeLease(ctx, r, func(b []byte) *statepb.Command {
		return &statepb.Command{Op: &statepb.Command_LeaseGrant{LeaseGrant: b}}
	})
	if err != nil {
		return nil, err
	}
	return headered[*pb.LeaseGrantResponse](n, resp)
}

// LeaseRevoke replicates a revoke: the lease and its keys go.
func (n *Node) LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := n.proposeLease(ctx, req, func(b []byte) *statepb.Command {
		return &statepb.Command{Op: &statepb.Command_LeaseRevoke{LeaseRevoke: b}}
	})
	if err != nil {
		return nil, err
	}
	return headered[*pb.LeaseRevokeResponse](n, resp)
}

// LeaseRenew renews a lease and returns its TTL. Only the leader's lessor
// renews; a follower forwards the renewal to the leader's client URL, as
// etcd's followers forward keepalives to their leader.
func (n *Node) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	switch lead := n.Leader(); lead {
	case n.id:
		return n.kv.LeaseRenew(id)
	case 0:
		return 0, nodeerr.ErrNoLeader
	default:
		return n.forwardRenew(ctx, lead, id)
	}
}

// forwardRenew renews through the leader's Lease.LeaseKeepAlive: one
// short stream per renewal (clients renew every TTL/3, so this is rare).
func (n *Node) forwardRenew(ctx context.Context, lead uint64, id int64) (int64, error) {
	m, ok := n.kv.Member(lead)
	if !ok || len(m.ClientUrls) == 0 {
		return 0, nodeerr.ErrNotLeader // not published yet: ask another member
	}
	conn, err := n.leaderRPC.get(m.ClientUrls[0])
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	stream, err := pb.NewLeaseClient(conn).LeaseKeepAlive(ctx)
	if err != nil {
		return 0, forwardError(ctx, err)
	}
	if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
		return 0, forwardError(ctx, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return 0, forwardError(ctx, err)
	}
	if resp.TTL <= 0 {
		return 0, nodeerr.ErrLeaseNotFound
	}
	return resp.TTL, nil
}

// forwardError turns a failed forward into an answer the client retries
// elsewhere: the leader moved or cannot be reached from here.
func forwardError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nodeerr.ErrTimeout
	}
	return fmt.Errorf("%w (forwarding a lease renewal: %v)", nodeerr.ErrNotLeader, err)
}

// leaderConns caches one client connection per leader client URL.
type leaderConns struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (c *leaderConns) get(rawURL string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn := c.conns[rawURL]; conn != nil {
		return conn, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: leader client URL %q: %v", nodeerr.ErrNotLeader, rawURL, err)
	}
	// Client ports are plaintext (see ValidateURL); grpc.NewClient dials
	// lazily, so this does not block.
	conn, err := grpc.NewClient(u.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("%w: dial leader %q: %v", nodeerr.ErrNotLeader, rawURL, err)
	}
	if c.conns == nil {
		c.conns = map[string]*grpc.ClientConn{}
	}
	c.conns[rawURL] = conn
	return conn, nil
}

func (c *leaderConns) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for u, conn := range c.conns {
		_ = conn.Close()
		delete(c.conns, u)
	}
}

// LeaseTimeToLive answers from this member's lessor (remaining TTLs are
// the leader's; a follower reports leases as granted).
func (n *Node) LeaseTimeToLive(_ context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := n.kv.LeaseTimeToLive(req)
	if err != nil {
		return nil, err
	}
	resp.Header = n.header(resp.Header)
	return resp, nil
}

// LeaseLeases lists the leases.
func (n *Node) LeaseLeases(context.Context) (*pb.LeaseLeasesResponse, error) {
	resp, err := n.kv.Leases()
	if err != nil {
		return nil, err
	}
	resp.Header = n.header(resp.Header)
	return resp, nil
}

// leaseExpiryLoop turns the leader's expired leases into replicated
// revokes. A revoke that fails is retried: the lessor reports the lease
// again (etcd's ExpiredLeasesRetryInterval).
func (n *Node) leaseExpiryLoop() {
	expired := n.kv.ExpiredLeases()
	for {
		select {
		case leases := <-expired:
			for _, l := range leases {
				if n.Leader() != n.id {
					break
				}
				ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
				_, err := n.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: int64(l.ID)})
				cancel()
				if err != nil && !errors.Is(err, nodeerr.ErrLeaseNotFound) {
					n.lg.Warn("Revoking an expired lease failed", zap.Int64("lease", int64(l.ID)), zap.Error(err))
				}
			}
		case <-n.stopc:
			return
		}
	}
}

// proposeLeaseCheckpoint replicates the leader's remaining TTLs (etcd's
// lease checkpointing), so a new leader does not reset them.
func (n *Node) proposeLeaseCheckpoint(ctx context.Context, req *pb.LeaseCheckpointRequest) error {
	_, err := n.proposeLease(ctx, req, func(b []byte) *statepb.Command {
		return &statepb.Command{Op: &statepb.Command_LeaseCheckpoint{LeaseCheckpoint: b}}
	})
	return err
}

func (n *Node) proposeLease(ctx context.Context, req proto.Message, wrap func([]byte) *statepb.Command) (proto.Message, error) {
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("raftnode: marshal lease request: %w", err)
	}
	// Lease commands are not retried under a client identity: a repeated
	// grant of one ID fails with ErrLeaseExists, a repeated revoke with
	// ErrLeaseNotFound, as in etcd.
	return n.propose(clientseq.With(ctx, clientseq.Ident{}), wrap(b))
}

// headered type-checks an applied result and fills its header.
func headered[T interface {
	proto.Message
	GetHeader() *pb.ResponseHeader
}](n *Node, m proto.Message) (T, error) {
	var zero T
	r, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("raftnode: lease command applied with a %T result", m)
	}
	n.header(r.GetHeader())
	return r, nil
}
