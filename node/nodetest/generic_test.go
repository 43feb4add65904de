package nodetest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kuberaft/kuberaft/node/kvmodel"
)

// scenario is one shape of the MIT 6.824 kvraft GenericTest.
type scenario struct {
	members     int
	clients     int
	unreliable  bool          // 10% request loss, 10% reply loss, delays
	crash       bool          // crash and restart every member after each iteration
	crashMid    bool          // and also halfway through, while clients run
	partitions  bool          // re-partition randomly while clients run
	snapshotCnt uint64        // 0: default (no snapshots in these short runs)
	randomKeys  bool          // clients share 10 random keys instead of one each
	iterations  int           // default 3
	runFor      time.Duration // client time per iteration; default 1.5s
	maxLog      uint64        // if set, raft's in-memory log must stay below it
}

// soak multiplies client time per iteration (KUBERAFT_SOAK=10 for a long
// run); the default keeps the whole package within a few minutes.
func soak() time.Duration {
	if f, err := strconv.Atoi(os.Getenv("KUBERAFT_SOAK")); err == nil && f > 1 {
		return time.Duration(f)
	}
	return 1
}

func runScenario(t *testing.T, sc scenario) {
	if sc.iterations == 0 {
		sc.iterations = 3
	}
	if sc.runFor == 0 {
		sc.runFor = 1500 * time.Millisecond
	}
	c := NewCluster(t, Options{Members: sc.members, SnapshotCount: sc.snapshotCnt, SnapshotCatchUpEntries: sc.snapshotCnt / 2, Seed: uint64(time.Now().UnixNano())})
	if sc.unreliable {
		c.Net.SetUnreliable(0.1, 0.1, 10*time.Millisecond)
	}
	hist := kvmodel.NewHistory()
	clients := make([]*Client, sc.clients)
	for i := range clients {
		clients[i] = c.NewClient(i, hist)
	}
	for it := range sc.iterations {
		runIteration(t, c, clients, sc, it)
		c.Net.Heal()
		if sc.crash {
			restartAll(t, c)
		}
		if sc.maxLog > 0 {
			checkLogBounded(t, c, sc.maxLog)
		}
	}
	c.Net.SetUnreliable(0, 0, 0)
	c.CheckReplicasAgree(10 * time.Second)
	// Every client's own appends must all be there, in order.
	if !sc.randomKeys {
		checkClientAppends(t, c, clients)
	}
	hist.CheckLinearizable(t, 30*time.Second)
}

// restartAll crashes every member, then starts each again on its data.
func restartAll(t *testing.T, c *Cluster) {
	t.Helper()
	for i := range c.Members() {
		c.Crash(i)
	}
	for i := range c.Members() {
		if err := c.Start(i, "existing"); err != nil {
			t.Fatalf("restart member %d: %v", i, err)
		}
	}
}

// runIteration runs the clients (and the partitioner) for sc.runFor.
func runIteration(t *testing.T, c *Cluster, clients []*Client, sc scenario, it int) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clientLoop(cl, sc, it, stop)
		}()
	}
	if sc.partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			partitioner(c, stop)
		}()
	}
	// The workload runs for this long by design.
	if sc.crashMid {
		time.Sleep(sc.runFor * soak() / 2)
		restartAll(t, c)
		time.Sleep(sc.runFor * soak() / 2)
	} else {
		time.Sleep(sc.runFor * soak())
	}
	close(stop)
	wg.Wait()
}

// clientLoop mixes appends (of unique tokens), gets and puts; with one key
// per client, puts are left out so the final value holds every append.
func clientLoop(cl *Client, sc scenario, it int, stop <-chan struct{}) {
	key := fmt.Sprintf("k%d", cl.id)
	for j := 0; ; j++ {
		select {
		case <-stop:
			return
		default:
		}
		if sc.randomKeys {
			key = fmt.Sprintf("r%d", cl.rnd.IntN(10))
		}
		// A deadline past the iteration end lets a pending write finish;
		// writes still pending are recorded with an unknown outcome.
		deadline := time.Now().Add(3 * time.Second)
		switch r := cl.rnd.IntN(10); {
		case r < 5:
			cl.Append(deadline, key, fmt.Sprintf("x %d %d %d y", cl.id, it, j))
		case r < 8 || !sc.randomKeys:
			cl.Get(deadline, key)
		default:
			cl.Put(deadline, key, fmt.Sprintf("p %d %d %d", cl.id, it, j))
		}
	}
}

// partitioner re-splits the members at random every 200-400ms, keeping
// one side a majority half of the time.
func partitioner(c *Cluster, stop <-chan struct{}) {
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for {
		var a, b []string
		for _, m := range c.Members() {
			if rnd.IntN(2) == 0 {
				a = append(a, m.URL)
			} else {
				b = append(b, m.URL)
			}
		}
		c.Net.Partition(a, b)
		select {
		case <-stop:
			return
		case <-time.After(200*time.Millisecond + time.Duration(rnd.IntN(200))*time.Millisecond):
		}
	}
}

// checkClientAppends reads each client's key and checks that every append
// the client saw acknowledged is present exactly once, in order.
func checkClientAppends(t *testing.T, c *Cluster, clients []*Client) {
	t.Helper()
	reader := c.NewClient(len(clients), kvmodel.NewHistory())
	for _, cl := range clients {
		v, ok := reader.Get(time.Now().Add(10*time.Second), fmt.Sprintf("k%d", cl.id))
		if !ok {
			t.Fatalf("final read of client %d's key failed", cl.id)
		}
		checkAppendOrder(t, cl.id, v)
	}
}

// checkAppendOrder checks that the tokens "x <client> <it> <j> y" of one
// client appear at most once each and in increasing order.
func checkAppendOrder(t *testing.T, client int, v string) {
	t.Helper()
	last := [2]int{-1, -1}
	var cid, it, j int
	for rest := v; len(rest) > 0; {
		n, err := fmt.Sscanf(rest, "x %d %d %d y", &cid, &it, &j)
		if err != nil || n != 3 || cid != client {
			t.Fatalf("client %d: malformed value at %q", client, rest[:min(40, len(rest))])
		}
		cur := [2]int{it, j}
		if cur[0] < last[0] || cur[0] == last[0] && cur[1] <= last[1] {
			t.Fatalf("client %d: append %v after %v (duplicate or out of order)", client, cur, last)
		}
		last = cur
		tok := fmt.Sprintf("x %d %d %d y", cid, it, j)
		rest = rest[len(tok):]
	}
}

// checkLogBounded checks that compaction keeps raft's log short.
func checkLogBounded(t *testing.T, c *Cluster, max uint64) {
	t.Helper()
	for _, m := range c.Members() {
		n := m.Node()
		if n == nil {
			continue
		}
		if l := n.LogLength(); l > max {
			t.Fatalf("member %s holds %d log entries, want <= %d (compaction)", m.Name, l, max)
		}
	}
}

func TestConcurrentClients(t *testing.T) {
	runScenario(t, scenario{members: 5, clients: 5})
}

func TestUnreliableNetwork(t *testing.T) {
	runScenario(t, scenario{members: 5, clients: 5, unreliable: true})
}

func TestManyPartitions(t *testing.T) {
	runScenario(t, scenario{members: 5, clients: 5, partitions: true})
}

func TestRestartAllMidLoad(t *testing.T) {
	runScenario(t, scenario{members: 5, clients: 5, crash: true, crashMid: true})
}

func TestLogBoundedByCompaction(t *testing.T) {
	runScenario(t, scenario{members: 3, clients: 5, crash: true, snapshotCnt: 100, maxLog: 300})
}

func TestSevenServersFifteenClientsRandomKeys(t *testing.T) {
	runScenario(t, scenario{members: 7, clients: 15, unreliable: true, partitions: true, crash: true, randomKeys: true, snapshotCnt: 200})
}
