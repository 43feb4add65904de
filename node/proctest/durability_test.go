package proctest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kuberaft/kuberaft/node/kvmodel"
)

// TestKill9UnderLoad kills raftnode processes with SIGKILL while clients
// write and read, restarts them, and then checks that (1) no acknowledged
// write is lost — each client's last acknowledged sequence number is still
// readable — and (2) the whole history, crashes included, is linearizable
// (porcupine, with node/nodetest's KV model).
func TestKill9UnderLoad(t *testing.T) {
	for _, tt := range []struct {
		name    string
		members int
		// rounds lists, per crash round, which members to kill: "leader",
		// "follower", or "all".
		rounds [][]string
	}{
		{"3 members", 3, [][]string{{"leader"}, {"follower"}, {"all"}}},
		{"5 members", 5, [][]string{{"leader", "follower"}, {"leader"}, {"all"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, tt.members)
			hist := kvmodel.NewHistory()
			load := startLoad(t, c, hist, 6)
			time.Sleep(time.Second) // load before the first crash
			for i, round := range tt.rounds {
				crashRound(t, c, i, round)
			}
			time.Sleep(time.Second) // load after the last recovery
			load.stop()
			if load.acked.Load() == 0 {
				t.Fatal("no write was acknowledged: the test observed nothing")
			}
			c.waitLeader(30 * time.Second)
			load.checkAcknowledgedWrites(t, c.client(), hist)
			t.Logf("%d writes acknowledged, %d operations recorded", load.acked.Load(), hist.Len())
			hist.CheckLinearizable(t, 30*time.Second)
		})
	}
}

// crashRound kills the chosen members with SIGKILL under load, keeps them
// down briefly, restarts them and waits for an agreed leader.
func crashRound(t *testing.T, c *cluster, round int, who []string) {
	t.Helper()
	leader := c.waitLeader(30 * time.Second)
	var victims []*member
	for _, w := range who {
		switch w {
		case "all":
			victims = c.members
		case "leader":
			victims = append(victims, leader)
		case "follower":
			for _, m := range c.members {
				if m != leader && !contains(victims, m) {
					victims = append(victims, m)
					break
				}
			}
		}
	}
	t.Logf("round %d: kill -9 %v (leader %s)", round, names(victims), leader.name)
	for _, m := range victims {
		c.kill9(m)
	}
	time.Sleep(700 * time.Millisecond)
	for _, m := range victims {
		c.start(m, "new", c.initialCluster())
	}
	c.waitLeader(30 * time.Second)
	time.Sleep(500 * time.Millisecond) // let the load run on the healed cluster
}

// load is the running client workload.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	acked  atomic.Int64
	mu     sync.Mutex
	// lastAcked[c] is client c's last acknowledged sequence on its own key.
	lastAcked map[int]int
}

const sharedKeys = 6

// startLoad runs n clients, each with its own clientv3 client over all
// endpoints. A client alternates a put of its own key "ack/<c>" (value: its
// sequence number) with a random put or linearizable get of a shared key.
func startLoad(t *testing.T, c *cluster, hist *kvmodel.History, n int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, lastAcked: map[int]int{}}
	for id := range n {
		cli := c.client()
		l.wg.Go(func() { l.client(ctx, id, cli, hist) })
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) client(ctx context.Context, id int, cli *clientv3.Client, hist *kvmodel.History) {
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	for seq := 1; ctx.Err() == nil; seq++ {
		own := fmt.Sprintf("ack/%d", id)
		if l.put(cli, hist, id, own, strconv.Itoa(seq)) {
			l.mu.Lock()
			l.lastAcked[id] = seq
			l.mu.Unlock()
		}
		key := fmt.Sprintf("shared/%d", rng.IntN(sharedKeys))
		if rng.IntN(2) == 0 {
			l.put(cli, hist, id, key, fmt.Sprintf("c%d-%d", id, seq))
		} else {
			l.get(cli, hist, id, key)
		}
	}
}

// put records a put; an error makes its outcome unknown (it may still
// apply), as etcd's robustness tests treat failed writes.
func (l *load) put(cli *clientv3.Client, hist *kvmodel.History, id int, key, val string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	call := hist.Now()
	_, err := cli.Put(ctx, key, val)
	hist.Add(id, kvmodel.Input{Op: kvmodel.OpPut, Key: key, Value: val}, kvmodel.Output{Unknown: err != nil}, call, hist.Now())
	if err == nil {
		l.acked.Add(1)
	}
	return err == nil
}

// get records a successful linearizable get; a failed one observed nothing.
func (l *load) get(cli *clientv3.Client, hist *kvmodel.History, id int, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	call := hist.Now()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return
	}
	val := ""
	if len(resp.Kvs) > 0 {
		val = string(resp.Kvs[0].Value)
	}
	hist.Add(id, kvmodel.Input{Op: kvmodel.OpGet, Key: key}, kvmodel.Output{Value: val}, call, hist.Now())
}

// checkAcknowledgedWrites reads every client's own key after recovery: the
// value must be at least the client's last acknowledged sequence (a later,
// unacknowledged put may have applied too). The reads join the history.
func (l *load) checkAcknowledgedWrites(t *testing.T, cli *clientv3.Client, hist *kvmodel.History) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, last := range l.lastAcked {
		key := fmt.Sprintf("ack/%d", id)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		call := hist.Now()
		resp, err := cli.Get(ctx, key)
		cancel()
		if err != nil {
			t.Fatalf("final read of %s: %v", key, err)
		}
		val := ""
		if len(resp.Kvs) > 0 {
			val = string(resp.Kvs[0].Value)
		}
		hist.Add(1000+id, kvmodel.Input{Op: kvmodel.OpGet, Key: key}, kvmodel.Output{Value: val}, call, hist.Now())
		if got, err := strconv.Atoi(val); err != nil || got < last {
			t.Errorf("acknowledged write lost: %s = %q, but seq %d was acknowledged", key, val, last)
		}
	}
}

func contains(ms []*member, m *member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func names(ms []*member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}
