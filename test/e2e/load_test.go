//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"

	"github.com/kuberaft/kuberaft/node/kvmodel"
	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// Workload shape: a few clients each alternate a put to one of a few shared
// keys (the linearizability check needs contention), a linearizable get of
// a shared key, and a put to a fresh key of its own (the "no acknowledged
// write lost" check), paced so 2 CPUs can also run the cluster.
const (
	loadClients    = 4
	loadSharedKeys = 6
	loadOpsPerSec  = 20 // per client
	loadOpTimeout  = 3 * time.Second
)

// workload is continuous client load through one endpoint, recording a
// porcupine history and every acknowledged write.
type workload struct {
	hist   *kvmodel.History
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	ackTimes  []time.Time
	acked     map[string]string // fresh key -> value, acknowledged
	uncertain map[string]bool   // fresh keys whose put outcome is unknown
	failures  int64
	ops       atomic.Int64
	clients   []*clientv3.Client
}

// newEtcdClient connects to endpoint, with the TLS identity registered
// for it (tls_test.go).
func newEtcdClient(endpoint string) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		TLS:         tlsFor(endpoint),
		Logger:      zap.NewNop(),
	}
	if cfg.TLS != nil {
		// clientv3 verifies the server against the dialed authority (the
		// ClusterIP or pod IP), not tls.Config.ServerName; the certificates
		// name DNS names, so the authority is set to the registered name.
		cfg.DialOptions = []grpc.DialOption{grpc.WithAuthority(cfg.TLS.ServerName)}
	}
	return clientv3.New(cfg)
}

// startLoad starts the clients against endpoint until stop is called.
func startLoad(t *testing.T, endpoint, prefix string) *workload {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &workload{hist: kvmodel.NewHistory(), cancel: cancel, acked: map[string]string{}, uncertain: map[string]bool{}}
	for i := range loadClients {
		cli, err := newEtcdClient(endpoint)
		if err != nil {
			cancel()
			w.closeClients()
			t.Fatalf("etcd client for %s: %v", endpoint, err)
		}
		w.clients = append(w.clients, cli)
		w.wg.Add(1)
		go w.client(ctx, i, cli, prefix)
	}
	t.Cleanup(w.halt)
	return w
}

func (w *workload) closeClients() {
	for _, c := range w.clients {
		_ = c.Close()
	}
	w.clients = nil
}

// halt stops the clients (idempotent).
func (w *workload) halt() {
	w.cancel()
	w.wg.Wait()
	w.closeClients()
}

func (w *workload) client(ctx context.Context, id int, cli *clientv3.Client, prefix string) {
	defer w.wg.Done()
	lim := rate.NewLimiter(rate.Limit(loadOpsPerSec), 1)
	for seq := 0; ; seq++ {
		if lim.Wait(ctx) != nil {
			return
		}
		shared := fmt.Sprintf("%s/shared/%d", prefix, (id+seq)%loadSharedKeys)
		switch seq % 3 {
		case 0:
			w.put(ctx, id, cli, shared, fmt.Sprintf("c%d-%d", id, seq), false)
		case 1:
			w.get(ctx, id, cli, shared)
		default:
			w.put(ctx, id, cli, fmt.Sprintf("%s/fresh/c%d/%06d", prefix, id, seq), fmt.Sprintf("v%d", seq), true)
		}
	}
}

func (w *workload) put(ctx context.Context, id int, cli *clientv3.Client, key, val string, fresh bool) {
	in := kvmodel.Input{Op: kvmodel.OpPut, Key: key, Value: val}
	call := w.hist.Now()
	octx, cancel := context.WithTimeout(ctx, loadOpTimeout)
	_, err := cli.Put(octx, key, val)
	cancel()
	ret := w.hist.Now()
	res := e2echeck.ClassifyPut(err, ctx.Err() != nil)
	w.mu.Lock()
	if fresh {
		if res.Unknown {
			w.uncertain[key] = true
		} else {
			w.acked[key] = val
		}
	}
	if res.Count {
		w.ops.Add(1)
		if err != nil {
			w.failures++
		} else {
			w.ackTimes = append(w.ackTimes, time.Now())
		}
	}
	w.mu.Unlock()
	if !fresh {
		// Even a put cut off by the stop: it may have been applied, and the
		// final read-back joins the history (see ClassifyPut).
		w.hist.Add(id, in, kvmodel.Output{Unknown: res.Unknown}, call, ret)
	}
}

func (w *workload) get(ctx context.Context, id int, cli *clientv3.Client, key string) {
	call := w.hist.Now()
	octx, cancel := context.WithTimeout(ctx, loadOpTimeout)
	resp, err := cli.Get(octx, key)
	cancel()
	ret := w.hist.Now()
	if err != nil {
		if ctx.Err() == nil {
			w.mu.Lock()
			w.failures++
			w.mu.Unlock()
		}
		return
	}
	w.ops.Add(1)
	val := ""
	if len(resp.Kvs) > 0 {
		val = string(resp.Kvs[0].Value)
	}
	w.hist.Add(id, kvmodel.Input{Op: kvmodel.OpGet, Key: key}, kvmodel.Output{Value: val}, call, ret)
}

// ackedSince counts the writes acknowledged after t.
func (w *workload) ackedSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.ackTimes {
		if at.After(t) {
			n++
		}
	}
	return n
}

// loadReport is what a workload proved once stopped and verified.
type loadReport struct {
	ops, failures   int64
	acked, lost     int
	longestGap      time.Duration
	gapAt           time.Time
	linearizability e2echeck.Linearizability
}

// stopAndVerify stops the clients, reads back every acknowledged fresh key
// and every shared key (through endpoint, linearizably), and checks the
// history. The gap is measured over [from, to].
func (w *workload) stopAndVerify(t *testing.T, endpoint, prefix, vizPath string, from, to time.Time) loadReport {
	t.Helper()
	w.halt()

	cli, err := newEtcdClient(endpoint)
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The final read of each shared key joins the history as one more get.
	for k := range loadSharedKeys {
		w.get(ctx, loadClients, cli, fmt.Sprintf("%s/shared/%d", prefix, k))
	}
	resp, err := cli.Get(ctx, prefix+"/fresh/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("read back the acknowledged writes: %v", err)
	}
	final := map[string]string{}
	for _, kv := range resp.Kvs {
		final[string(kv.Key)] = string(kv.Value)
	}
	w.mu.Lock()
	acked := map[string]string{}
	for k, v := range w.acked {
		if !w.uncertain[k] {
			acked[k] = v
		}
	}
	rep := loadReport{ops: w.ops.Load(), failures: w.failures, acked: len(acked)}
	rep.longestGap, rep.gapAt = e2echeck.LongestGap(w.ackTimes, from, to)
	w.mu.Unlock()

	lost := e2echeck.LostWrites(acked, final)
	rep.lost = len(lost)
	if len(lost) > 0 {
		t.Errorf("%d acknowledged writes lost, e.g. %v", len(lost), lost[:min(len(lost), 10)])
	}
	lin, err := e2echeck.CheckLinearizable(w.hist.Operations(), 3*time.Minute, vizPath)
	if err != nil {
		t.Error(err)
	}
	rep.linearizability = lin
	if lin.Result != "Ok" {
		t.Errorf("client history of %d operations is %s (porcupine, %s); visualisation: %s", lin.Ops, lin.Result, lin.Elapsed.Round(time.Millisecond), vizPath)
	}
	if rep.acked == 0 {
		t.Errorf("no write was acknowledged during the load")
	}
	return rep
}
