//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// Node ports, as the operator's pod spec exposes them.
const (
	clientPort = 2379 // etcd v3 API and the nodepb Membership service
	httpPort   = 8080 // /livez /readyz /status /metrics
)

// nodeDialer keeps one gRPC connection per pod IP: a sampler asks every
// node several times a second.
type nodeDialer struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	// tls returns the client TLS config for a member pod.
	tls func(ctx context.Context, pod string) (*tls.Config, error)
}

func newNodeDialer(tlsFor func(context.Context, string) (*tls.Config, error)) *nodeDialer {
	return &nodeDialer{conns: map[string]*grpc.ClientConn{}, tls: tlsFor}
}

func (d *nodeDialer) conn(ctx context.Context, pod, ip string) (*grpc.ClientConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.conns[ip]; ok {
		return c, nil
	}
	cfg, err := d.tls(ctx, pod)
	if err != nil {
		return nil, err
	}
	c, err := grpc.NewClient(net.JoinHostPort(ip, strconv.Itoa(clientPort)), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, err
	}
	d.conns[ip] = c
	return c, nil
}

func (d *nodeDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ip, c := range d.conns {
		_ = c.Close()
		delete(d.conns, ip)
	}
}

// status asks one node for its raft view.
func (d *nodeDialer) status(ctx context.Context, pod, ip string) (e2echeck.Sample, error) {
	c, err := d.conn(ctx, pod, ip)
	if err != nil {
		return e2echeck.Sample{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := nodepb.NewMembershipClient(c).Status(ctx, &nodepb.StatusRequest{})
	if err != nil {
		return e2echeck.Sample{}, fmt.Errorf("status of %s (%s): %w", pod, ip, err)
	}
	cs := st.GetConfState()
	return e2echeck.Sample{
		At: time.Now(), Pod: pod, ID: st.GetId(), Role: st.GetRole(), Leader: st.GetLeader(), Term: st.GetTerm(), Applied: st.GetApplied(),
		Voters: cs.GetVoters(), VotersOutgoing: cs.GetVotersOutgoing(), Learners: cs.GetLearners(),
	}, nil
}

// snapshot asks every running pod of ns at once; pods that do not answer
// are left out (the error lists them).
func (s *suite) snapshot(ctx context.Context, d *nodeDialer, ns string) ([]e2echeck.Sample, error) {
	pods, err := s.pods(ctx, ns)
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		out     []e2echeck.Sample
		lastErr error
	)
	for _, p := range pods {
		if p.Status.PodIP == "" {
			continue
		}
		wg.Add(1)
		go func(pod, ip string) {
			defer wg.Done()
			smp, err := d.status(ctx, pod, ip)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				lastErr = err
				return
			}
			out = append(out, smp)
		}(p.Name, p.Status.PodIP)
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out, lastErr
}

// sampler records every node's status every period until stopped: the
// evidence for "never 4 voters" and for the upgrade order.
type sampler struct {
	mu      sync.Mutex
	samples []e2echeck.Sample
	errors  int
	stop    chan struct{}
	once    sync.Once
	done    chan struct{}
}

// startSampler samples until finish, or until the test ends.
func (s *suite) startSampler(t *testing.T, ns string, d *nodeDialer, period time.Duration) *sampler {
	sm := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() { sm.finish() })
	go func() {
		defer close(sm.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			snap, err := s.snapshot(ctx, d, ns)
			cancel()
			sm.mu.Lock()
			sm.samples = append(sm.samples, snap...)
			if err != nil {
				sm.errors++
			}
			sm.mu.Unlock()
			select {
			case <-sm.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return sm
}

// finish stops the sampler and returns what it recorded, in time order.
func (sm *sampler) finish() []e2echeck.Sample {
	sm.once.Do(func() { close(sm.stop) })
	<-sm.done
	sm.mu.Lock()
	defer sm.mu.Unlock()
	out := append([]e2echeck.Sample(nil), sm.samples...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// httpStatus fetches a node's /status JSON (for failure dumps).
func httpStatus(ctx context.Context, ip string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/status", net.JoinHostPort(ip, strconv.Itoa(httpPort)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d\n%s", resp.StatusCode, body)
}

// leaderMovedOff is the condition, for eventually, that the members other
// than pod (the old leader's, which may be gone or stale) agree on a leader
// other than oldLeader.
func (s *suite) leaderMovedOff(d *nodeDialer, ns, pod string, oldLeader uint64) func(ctx context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		snap, _ := s.snapshot(ctx, d, ns)
		var others []e2echeck.Sample
		for _, smp := range snap {
			if smp.Pod != pod {
				others = append(others, smp)
			}
		}
		l := e2echeck.LeaderAt(others)
		return l != 0 && l != oldLeader, fmt.Sprintf("leader %x (old %x)", l, oldLeader)
	}
}
