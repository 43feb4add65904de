package nodeclient

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"github.com/kuberaft/kuberaft/node/api/grpckeepalive"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
)

// blackHoleProxy forwards TCP connections to a backend until BlackHole is
// called; from then on the connections it already carries swallow every
// byte in both directions without closing (a node lost uncleanly: no FIN,
// no RST), while new connections are forwarded as before (the pod was
// rescheduled behind the same name).
type blackHoleProxy struct {
	lis     net.Listener
	backend string
	mu      sync.Mutex
	conns   []*proxied
}

type proxied struct {
	mu   sync.Mutex
	dead bool
}

func (p *proxied) isDead() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

func newBlackHoleProxy(t *testing.T, backend string) *blackHoleProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackHoleProxy{lis: lis, backend: backend}
	t.Cleanup(func() { _ = lis.Close() })
	go p.serve(t)
	return p
}

func (p *blackHoleProxy) serve(t *testing.T) {
	for {
		in, err := p.lis.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = in.Close()
			continue
		}
		t.Cleanup(func() { _ = in.Close(); _ = out.Close() })
		c := &proxied{}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		go pipe(c, out, in)
		go pipe(c, in, out)
	}
}

// pipe copies src to dst until src fails; once c is dead it reads and
// drops, so the sender sees a healthy, silent peer.
func pipe(c *proxied, dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if c.isDead() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// BlackHole silences every connection open now.
func (p *blackHoleProxy) BlackHole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
	}
}

// TestKeepaliveRecoversFromABlackHoledConnection: the operator's cached
// connection to a node goes silent (unclean node loss). Without keepalive
// the connection stays "ready" and every call times out forever; with the
// client pings of grpckeepalive the connection is dropped after about
// interval + timeout (15 s) and the next call reaches the node again.
func TestKeepaliveRecoversFromABlackHoledConnection(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(grpckeepalive.EnforcementPolicy()))
	nodepb.RegisterMembershipServer(g, s)
	pb.RegisterMaintenanceServer(g, etcdServer{s: s})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	proxy := newBlackHoleProxy(t, lis.Addr().String())
	c := NewGRPC(Options{CallTimeout: time.Second, Address: func(Endpoint) string { return proxy.lis.Addr().String() }})
	t.Cleanup(func() { _ = c.Close() })

	ctx := context.Background()
	if _, err := c.Status(ctx, ep); err != nil {
		t.Fatalf("status through the proxy: %v", err)
	}
	proxy.BlackHole()
	if _, err := c.Status(ctx, ep); err == nil {
		t.Fatal("a call on the black-holed connection succeeded")
	}
	// Bounded by far more than interval + timeout; gRPC's reconnect
	// backoff starts at 1 s.
	deadline := time.Now().Add(4 * (grpckeepalive.ClientPingInterval + grpckeepalive.ClientPingTimeout))
	for {
		_, err := c.Status(ctx, ep)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing %v after the black hole: %v", 4*(grpckeepalive.ClientPingInterval+grpckeepalive.ClientPingTimeout), err)
		}
		if !IsUnavailable(err) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("call failed: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
