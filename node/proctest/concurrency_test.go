package proctest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// sessionTTL is the lease TTL (seconds) of every concurrency session: short
// enough that a paused or partitioned holder loses its lease within the
// test, long enough (≫ the 500 ms election timeout) that a leader change
// alone does not expire it.
const sessionTTL = 3

// TestProofConcurrency is issue 11's proof 2: clientv3/concurrency Mutex
// and Election, used by many clients through a kill -9, a partition and a
// SIGSTOP of the raft leader. Each holder writes only through a Txn fenced
// by its key's create revision (the fencing token); afterwards, in
// revision order, holders never overlap: each holder's fenced writes lie
// between its acquisition and its successor's, tokens only grow, and an
// observer of the election saw leaders in token order.
func TestProofConcurrency(t *testing.T) {
	c := newSystemCluster(t, clusterOptions{peerProxies: true})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	mutexLog, electLog := &holdLog{}, &holdLog{}
	for id := range 4 {
		cli := c.client()
		wg.Go(func() { holdLoop(ctx, cli, id, mutexLog, mutexHold) })
	}
	for id := range 3 {
		cli := c.client()
		wg.Go(func() { holdLoop(ctx, cli, id, electLog, electionHold) })
	}
	obs := &observed{}
	obsCli := c.client()
	wg.Go(func() { obs.run(ctx, obsCli) })
	stale := make(chan error, 1)
	staleCli := c.client()
	wg.Go(func() { stale <- staleHolder(ctx, staleCli) })

	waitHolds(t, mutexLog, electLog, 3)
	for _, fault := range []string{"kill", "partition", "pause"} {
		leader := c.waitLeader(30 * time.Second)
		switch fault {
		case "kill":
			c.kill9(leader)
			time.Sleep(700 * time.Millisecond)
			c.start(leader, "new", c.initialCluster())
		case "partition":
			c.partition(leader)
			time.Sleep(2 * sessionTTL * time.Second)
			c.heal(leader)
		case "pause":
			c.pause(leader)
			time.Sleep(2 * sessionTTL * time.Second)
			c.resume(leader)
		}
		c.waitLeader(30 * time.Second)
		waitHolds(t, mutexLog, electLog, 3)
	}
	cancel()
	wg.Wait()
	for name, l := range map[string]*holdLog{"mutex": mutexLog, "election": electLog} {
		holds := l.snapshot()
		t.Logf("%s: %d holds, %d fenced writes, %d stale holders fenced off", name, len(holds), countWrites(holds), l.fenced.Load())
		for _, err := range checkHolds(holds) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := <-stale; err != nil {
		t.Errorf("stale holder: %v", err)
	} else {
		t.Log("a holder whose lease expired was fenced off by its token")
	}
	leaders := obs.snapshot()
	t.Logf("election observer saw %d leaders", len(leaders))
	if len(leaders) == 0 {
		t.Error("the election observer saw no leader")
	}
	for i := 1; i < len(leaders); i++ {
		if leaders[i] < leaders[i-1] {
			t.Errorf("observer saw leader token %d after %d: leaders went back in time", leaders[i], leaders[i-1])
		}
	}
}

// staleHolder takes the lock, then stops renewing its lease as a holder
// stuck in a long pause would, waits until the store expired the lease
// (its key is gone), and then tries a fenced write: the store must refuse
// it. This is the case fencing tokens exist for.
func staleHolder(ctx context.Context, cli *clientv3.Client) error {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(sessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer func() { _ = s.Close() }()
	key, token, _, _, err := acquireRetrying(ctx, s)
	if err != nil {
		return err
	}
	s.Orphan() // no more keep-alives: the lease runs out
	for {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		get, err := cli.Get(gctx, key)
		cancel()
		if err == nil && len(get.Kvs) == 0 {
			break
		}
		if ctx.Err() != nil {
			return errors.New("the lease of an orphaned session never expired")
		}
		pause(ctx, 200*time.Millisecond)
	}
	// The faults of the test may move leadership while the write is in
	// flight ("leader changed", a timeout): retrying is safe, since the
	// compare can only fail again, and a write that slipped through an
	// errored attempt is caught by the read below.
	var lastErr error
	for range staleAttempts {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := cli.Txn(wctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", token)).
			Then(clientv3.OpPut(staleKey, "must not be written")).Commit()
		cancel()
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			pause(ctx, 200*time.Millisecond)
			continue
		}
		if resp.Succeeded {
			return fmt.Errorf("a holder whose lease expired (token %d) still wrote at rev %d", token, resp.Header.Revision)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		get, err := cli.Get(rctx, staleKey)
		cancel()
		switch {
		case err != nil:
			return fmt.Errorf("reading %s: %w", staleKey, err)
		case len(get.Kvs) > 0:
			return fmt.Errorf("a holder whose lease expired (token %d) still wrote %s at rev %d", token, staleKey, get.Kvs[0].ModRevision)
		}
		return nil
	}
	return fmt.Errorf("fenced write never answered in %d attempts: %w", staleAttempts, lastErr)
}

// staleKey is what a fenced-off holder tries to write; staleAttempts bounds
// its retries of transient errors.
const (
	staleKey      = "/proof/data/stale"
	staleAttempts = 20
)

// acquireRetrying takes the mutex, retrying (bounded by ctx) while the
// cluster cannot grant it.
func acquireRetrying(ctx context.Context, s *concurrency.Session) (string, int64, int64, func(context.Context) error, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		key, token, at, release, err := mutexHold(actx, s, 0, 0)
		cancel()
		if err == nil || ctx.Err() != nil {
			return key, token, at, release, err
		}
	}
}

// hold is one tenure of a lock or of leadership.
type hold struct {
	holder     int
	token      int64   // the create revision of the holder's key
	acquiredAt int64   // the revision of a read made once acquired
	writes     []int64 // revisions of the holder's committed fenced writes
}

type holdLog struct {
	mu     sync.Mutex
	holds  []hold
	fenced atomic.Int64 // fenced writes refused because the holder had lost its key
	count  atomic.Int64
	// lastErr is the last session or acquisition error, for a failure's
	// message.
	lastErr atomic.Value
}

func (l *holdLog) noteErr(err error) { l.lastErr.Store(err.Error()) }

func (l *holdLog) add(h hold) {
	l.mu.Lock()
	l.holds = append(l.holds, h)
	l.mu.Unlock()
	l.count.Add(1)
}

func (l *holdLog) snapshot() []hold {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hold(nil), l.holds...)
}

func countWrites(hs []hold) int {
	n := 0
	for _, h := range hs {
		n += len(h.writes)
	}
	return n
}

// waitHolds waits until both logs have grown by n: the cluster grants
// locks and leadership again.
func waitHolds(t *testing.T, a, b *holdLog, n int64) {
	t.Helper()
	wantA, wantB := a.count.Load()+n, b.count.Load()+n
	deadline := time.Now().Add(45 * time.Second)
	for a.count.Load() < wantA || b.count.Load() < wantB {
		if time.Now().After(deadline) {
			t.Fatalf("no progress within 45s: mutex holds %d (want %d, last error %v), election holds %d (want %d, last error %v)",
				a.count.Load(), wantA, a.lastErr.Load(), b.count.Load(), wantB, b.lastErr.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acquireFunc takes the lock or leadership in session s and returns the
// key, its create revision, the acquisition's header revision and a
// release function.
type acquireFunc func(ctx context.Context, s *concurrency.Session, id, seq int) (key string, token, at int64, release func(context.Context) error, err error)

func mutexHold(ctx context.Context, s *concurrency.Session, _, _ int) (string, int64, int64, func(context.Context) error, error) {
	m := concurrency.NewMutex(s, "/proof/lock/")
	if err := m.Lock(ctx); err != nil {
		return "", 0, 0, nil, err
	}
	// Mutex does not expose its key's create revision: read it; the read's
	// revision is after the predecessor's key was deleted.
	get, err := s.Client().Get(ctx, m.Key())
	if err != nil || len(get.Kvs) != 1 {
		_ = m.Unlock(ctx)
		return "", 0, 0, nil, fmt.Errorf("read own lock key: %v", err)
	}
	return m.Key(), get.Kvs[0].CreateRevision, get.Header.Revision, m.Unlock, nil
}

func electionHold(ctx context.Context, s *concurrency.Session, id, seq int) (string, int64, int64, func(context.Context) error, error) {
	e := concurrency.NewElection(s, "/proof/elect/")
	if err := e.Campaign(ctx, fmt.Sprintf("c%d-%d", id, seq)); err != nil {
		return "", 0, 0, nil, err
	}
	// e.Header() is the header of the key's creation, before the
	// predecessors left; a read now is after the last of them left.
	get, err := s.Client().Get(ctx, e.Key())
	if err != nil || len(get.Kvs) != 1 || get.Kvs[0].CreateRevision != e.Rev() {
		_ = e.Resign(ctx)
		return "", 0, 0, nil, fmt.Errorf("read own election key: %v", err)
	}
	return e.Key(), e.Rev(), get.Header.Revision, e.Resign, nil
}

// holdLoop repeatedly opens a session, acquires, makes fenced writes,
// releases; every step bounded in time, every failure starts over.
func holdLoop(ctx context.Context, cli *clientv3.Client, id int, l *holdLog, acquire acquireFunc) {
	for seq := 0; ctx.Err() == nil; seq++ {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(sessionTTL), concurrency.WithContext(ctx))
		if err != nil {
			l.noteErr(fmt.Errorf("session: %w", err))
			pause(ctx, 100*time.Millisecond)
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		key, token, at, release, err := acquire(actx, s, id, seq)
		cancel()
		if err != nil {
			l.noteErr(fmt.Errorf("acquire: %w", err))
		} else {
			h := hold{holder: id, token: token, acquiredAt: at}
			h.writes = fencedWrites(ctx, cli, key, token, l)
			l.add(h)
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = release(rctx) // a failed release ends with the lease
			cancel()
		}
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = cli.Revoke(cctx, s.Lease())
		cancel()
		_ = s.Close()
	}
}

// fencedWrites makes up to 3 writes that commit only while key still has
// create revision token, and returns the revisions of those that did.
func fencedWrites(ctx context.Context, cli *clientv3.Client, key string, token int64, l *holdLog) []int64 {
	var revs []int64
	for i := range 3 {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		resp, err := cli.Txn(wctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", token)).
			// Outside the lock's prefix: keys under it would queue as waiters.
			Then(clientv3.OpPut("/proof/data/"+key, fmt.Sprintf("%d-%d", token, i))).
			Commit()
		cancel()
		switch {
		case err != nil:
			return revs // outcome unknown: not counted, stop writing
		case !resp.Succeeded:
			l.fenced.Add(1)
			return revs
		}
		revs = append(revs, resp.Header.Revision)
	}
	return revs
}

// checkHolds: sorted by token, each hold's writes come after its own
// acquisition and before the next holder's acquisition, and no token is
// held twice.
func checkHolds(holds []hold) []error {
	var errs []error
	slices.SortFunc(holds, func(a, b hold) int { return cmp.Compare(a.token, b.token) })
	for i, h := range holds {
		for _, w := range h.writes {
			if w <= h.acquiredAt {
				errs = append(errs, fmt.Errorf("holder %d (token %d) wrote at rev %d before acquiring", h.holder, h.token, w))
			}
		}
		if i == 0 {
			continue
		}
		p := holds[i-1]
		if p.token == h.token {
			errs = append(errs, fmt.Errorf("token %d held by holders %d and %d", h.token, p.holder, h.holder))
			continue
		}
		if len(p.writes) > 0 && p.writes[len(p.writes)-1] >= h.acquiredAt {
			errs = append(errs, fmt.Errorf("overlap: holder %d (token %d) wrote at rev %d, but holder %d (token %d) acquired at rev %d",
				p.holder, p.token, p.writes[len(p.writes)-1], h.holder, h.token, h.acquiredAt))
		}
	}
	return errs
}

// observed records the create revisions of the leaders an election
// observer reported.
type observed struct {
	mu      sync.Mutex
	leaders []int64
}

func (o *observed) run(ctx context.Context, cli *clientv3.Client) {
	for ctx.Err() == nil {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(sessionTTL), concurrency.WithContext(ctx))
		if err != nil {
			pause(ctx, 100*time.Millisecond)
			continue
		}
		// Observe's channel closes when its watch ends (member gone):
		// observe again; a repeat of the current leader is allowed.
		for resp := range concurrency.NewElection(s, "/proof/elect/").Observe(ctx) {
			o.mu.Lock()
			o.leaders = append(o.leaders, resp.Kvs[0].CreateRevision)
			o.mu.Unlock()
		}
		_ = s.Close()
		pause(ctx, 100*time.Millisecond)
	}
}

func (o *observed) snapshot() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int64(nil), o.leaders...)
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
