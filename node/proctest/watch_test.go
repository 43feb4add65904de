package proctest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kuberaft/kuberaft/node/watchcheck"
)

// watchKeys is how many keys the writers of the watch proof use (each a
// slot of the porcupine model, so ≤ watchcheck.MaxKeys).
const watchKeys = 8

// TestProofWatchStreams is issue 11's proof 4, in the style of etcd's
// robustness suite: writers put, delete and read keys under /w/ while
// watchers record every event, through a kill -9 of the leader, a
// partition of the leader and a SIGSTOP of the leader. Then every stream
// is checked against the write history (watchcheck.Check: complete from
// its start revision, ordered, unique, prev_kv right, no revision lost) and
// porcupine checks the client history including revisions.
func TestProofWatchStreams(t *testing.T) {
	c := newSystemCluster(t, clusterOptions{peerProxies: true})
	cli := c.client()
	ctx := ctxT(t, 90*time.Second)
	initRev := mustPut(t, ctx, cli, "/w/init", "0")

	hist := watchcheck.NewHistory()
	w := startWriters(t, c, hist, 3)
	watchers := []*watchRecorder{
		startWatch(t, c, "all-prev", "/w/", initRev, true),
		startWatch(t, c, "all", "/w/", initRev, false),
		startWatch(t, c, "k0-prev", "/w/k0", initRev, true),
	}
	waitAcked(t, &w.acked, 20, 30*time.Second)
	leader := c.waitLeader(30 * time.Second)
	c.kill9(leader)
	time.Sleep(700 * time.Millisecond)
	c.start(leader, "new", c.initialCluster())
	c.waitLeader(30 * time.Second)
	// A watcher that starts in the middle of the run, at the revision then.
	// The put is part of the history: every revision must be explained.
	midRev := w.recordedPut(t, ctx, cli, hist, "mid")
	watchers = append(watchers, startWatch(t, c, "late-prev", "/w/", midRev, true))
	waitAcked(t, &w.acked, w.acked.Load()+20, 30*time.Second)

	leader = c.waitLeader(30 * time.Second)
	c.partition(leader)
	time.Sleep(3 * time.Second)
	c.heal(leader)
	c.waitLeader(30 * time.Second)
	waitAcked(t, &w.acked, w.acked.Load()+20, 30*time.Second)

	leader = c.waitLeader(30 * time.Second)
	c.pause(leader)
	time.Sleep(2 * time.Second)
	c.resume(leader)
	c.waitLeader(30 * time.Second)
	waitAcked(t, &w.acked, w.acked.Load()+20, 30*time.Second)
	w.stop()

	// Every write the clients issued is decided once a later write is
	// acknowledged; its revision is the end of the run.
	lastRev := mustPut(t, ctx, cli, "/w/end", "0")
	var streams []watchcheck.Stream
	for _, wr := range watchers {
		streams = append(streams, wr.waitFor(t, lastRev, 60*time.Second))
	}
	t.Logf("revisions %d..%d, %d writes acknowledged, %d operations; events per watcher: %v",
		initRev, lastRev, w.acked.Load(), hist.Len(), eventCounts(streams))
	for _, err := range watchcheck.Check(watchcheck.Run{Streams: streams, Acked: w.writes(), LastRev: lastRev, Gapless: true}) {
		t.Error(err)
	}
	resolved, dropped := hist.ResolveUnknownPuts(putRevisions(t, streams, "all"))
	t.Logf("unknown puts decided from the watch stream: %d took effect, %d did not", resolved, dropped)
	hist.CheckLinearizable(t, initRev, 60*time.Second)
}

// putRevisions looks a put of the workload up in a gapless stream of every
// key: its value is unique, so the event carrying it is that put.
func putRevisions(t *testing.T, streams []watchcheck.Stream, name string) func(watchcheck.Input) (int64, bool) {
	t.Helper()
	revs := map[string]int64{}
	var all *watchcheck.Stream
	for i := range streams {
		if streams[i].Name == name {
			all = &streams[i]
		}
	}
	if all == nil {
		t.Fatalf("no watch stream %q", name)
	}
	for _, ev := range all.Events {
		if ev.Type == mvccpb.PUT {
			revs[string(ev.Kv.Key)+"\x00"+string(ev.Kv.Value)] = ev.Kv.ModRevision
		}
	}
	return func(in watchcheck.Input) (int64, bool) {
		rev, ok := revs[fmt.Sprintf("/w/k%d", in.Key)+"\x00"+in.Value]
		return rev, ok
	}
}

func mustPut(t *testing.T, ctx context.Context, cli *clientv3.Client, key, val string) int64 {
	t.Helper()
	resp, err := cli.Put(ctx, key, val)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp.Header.Revision
}

func eventCounts(streams []watchcheck.Stream) map[string]int {
	n := map[string]int{}
	for _, s := range streams {
		n[s.Name] = len(s.Events)
	}
	return n
}

// writers is the client workload of the watch proof.
type writers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	acked  atomic.Int64
	mu     sync.Mutex
	acks   []watchcheck.Write
}

// startWriters runs n clients, each with its own clientv3 client: 40 %
// puts of a unique value, 20 % deletes, 40 % linearizable gets, on keys
// /w/k0../w/k7, every operation recorded in hist.
func startWriters(t *testing.T, c *cluster, hist *watchcheck.History, n int) *writers {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &writers{cancel: cancel}
	for id := range n {
		cli := c.client()
		w.wg.Go(func() { w.run(ctx, id, cli, hist) })
	}
	t.Cleanup(w.stop)
	return w
}

func (w *writers) stop() {
	w.cancel()
	w.wg.Wait()
}

func (w *writers) writes() []watchcheck.Write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]watchcheck.Write(nil), w.acks...)
}

func (w *writers) run(ctx context.Context, id int, cli *clientv3.Client, hist *watchcheck.History) {
	// A bounded rate keeps the history small enough for porcupine to
	// decide quickly (the faults, not the volume, make the proof).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := 0; ctx.Err() == nil; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		slot := rand.IntN(watchKeys)
		in := watchcheck.Input{Key: slot}
		switch r := rand.IntN(10); {
		case r < 4:
			in.Op, in.Value = watchcheck.OpPut, fmt.Sprintf("c%d-%d", id, seq)
		case r < 6:
			in.Op = watchcheck.OpDelete
		default:
			in.Op = watchcheck.OpGet
		}
		call := hist.Now()
		out := w.do(ctx, cli, in)
		if ctx.Err() != nil && out.Unknown && in.Op == watchcheck.OpGet {
			return
		}
		hist.Add(id, in, out, call, hist.Now())
	}
}

// do runs one operation with a bounded time; an error makes a write's
// outcome unknown.
func (w *writers) do(ctx context.Context, cli *clientv3.Client, in watchcheck.Input) watchcheck.Output {
	key := fmt.Sprintf("/w/k%d", in.Key)
	opCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	switch in.Op {
	case watchcheck.OpPut:
		resp, err := cli.Put(opCtx, key, in.Value)
		if err != nil {
			return watchcheck.Output{Unknown: true}
		}
		w.ack(watchcheck.Write{Key: key, Value: in.Value, Rev: resp.Header.Revision})
		return watchcheck.Output{Rev: resp.Header.Revision}
	case watchcheck.OpDelete:
		resp, err := cli.Delete(opCtx, key)
		if err != nil {
			return watchcheck.Output{Unknown: true}
		}
		if resp.Deleted > 0 {
			w.ack(watchcheck.Write{Key: key, Delete: true, Rev: resp.Header.Revision})
		}
		return watchcheck.Output{Deleted: resp.Deleted, Rev: resp.Header.Revision}
	default:
		resp, err := cli.Get(opCtx, key)
		if err != nil {
			return watchcheck.Output{Unknown: true}
		}
		out := watchcheck.Output{Rev: resp.Header.Revision}
		if len(resp.Kvs) == 1 {
			out.Found, out.Value, out.ModRev = true, string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision
		}
		return out
	}
}

// recordedPut puts value on /w/k0 as client id -1 of the history and
// returns its revision.
func (w *writers) recordedPut(t *testing.T, ctx context.Context, cli *clientv3.Client, hist *watchcheck.History, value string) int64 {
	t.Helper()
	in := watchcheck.Input{Op: watchcheck.OpPut, Key: 0, Value: value}
	call := hist.Now()
	out := w.do(ctx, cli, in)
	hist.Add(-1, in, out, call, hist.Now())
	if out.Unknown {
		t.Fatal("the test's own put failed")
	}
	return out.Rev
}

func (w *writers) ack(wr watchcheck.Write) {
	w.acked.Add(1)
	w.mu.Lock()
	w.acks = append(w.acks, wr)
	w.mu.Unlock()
}

// watchRecorder records one watcher's events; it resumes from its last
// revision + 1 whenever the stream ends (no leader, member gone), as
// kube-apiserver's reflectors and etcd's robustness watchers do.
type watchRecorder struct {
	stream  watchcheck.Stream
	mu      sync.Mutex
	lastRev int64 // highest revision known delivered (events or progress)
	err     error // a watch error that ends the recording (compaction)
	lastErr error // the last error a stream ended with, for a failure's message
	cli     *clientv3.Client
	ctx     context.Context // the watch's context: progress requests must use its metadata
}

func startWatch(t *testing.T, c *cluster, name, prefix string, startRev int64, prevKV bool) *watchRecorder {
	t.Helper()
	cli := c.client()
	ctx, cancel := context.WithCancel(context.Background())
	r := &watchRecorder{stream: watchcheck.Stream{Name: name, Prefix: prefix, StartRev: startRev, PrevKV: prevKV}, lastRev: startRev - 1,
		cli: cli, ctx: clientv3.WithRequireLeader(ctx)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx, cli)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *watchRecorder) run(ctx context.Context, cli *clientv3.Client) {
	for ctx.Err() == nil {
		r.mu.Lock()
		from := r.lastRev + 1
		r.mu.Unlock()
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify()}
		if r.stream.PrevKV {
			opts = append(opts, clientv3.WithPrevKV())
		}
		wctx, cancel := context.WithCancel(r.ctx)
		for resp := range cli.Watch(wctx, r.stream.Prefix, opts...) {
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					r.fail(fmt.Errorf("watch from %d: %w", from, err))
					cancel()
					return
				}
				r.mu.Lock()
				r.lastErr = err
				r.mu.Unlock()
				break // no leader or similar: resume from the last revision
			}
			r.record(resp)
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *watchRecorder) record(resp clientv3.WatchResponse) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range resp.Events {
		r.stream.Events = append(r.stream.Events, (*mvccpb.Event)(ev))
		r.lastRev = max(r.lastRev, ev.Kv.ModRevision)
	}
	// A progress notification says everything up to the header's
	// revision was delivered (etcd sends one only for synced watchers).
	if resp.IsProgressNotify() {
		r.lastRev = max(r.lastRev, resp.Header.Revision)
	}
}

func (r *watchRecorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// waitFor waits until the watcher has received everything up to rev and
// returns a copy of its stream.
func (r *watchRecorder) waitFor(t *testing.T, rev int64, timeout time.Duration) watchcheck.Stream {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		last, err, lastErr := r.lastRev, r.err, r.lastErr
		s := r.stream
		s.Events = append([]*mvccpb.Event(nil), r.stream.Events...)
		r.mu.Unlock()
		switch {
		case err != nil:
			t.Fatalf("watcher %s: %v", s.Name, err)
		case last >= rev:
			return s
		case time.Now().After(deadline):
			t.Fatalf("watcher %s reached revision %d, not %d, within %v (last stream error: %v)", s.Name, last, rev, timeout, lastErr)
		}
		// A watcher of a narrow range learns it is past rev only from a
		// progress notification; ask for one (errors: retried next round).
		pctx, cancel := context.WithTimeout(r.ctx, time.Second)
		_ = r.cli.RequestProgress(pctx)
		cancel()
		time.Sleep(200 * time.Millisecond)
	}
}
