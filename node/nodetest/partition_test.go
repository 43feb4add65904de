package nodetest

import (
	"context"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kuberaft/kuberaft/node/kvmodel"
)

// TestMinorityPartitionNoProgressThenHeals: the side without a quorum
// (here holding the old leader) can neither write nor read linearizably;
// the majority elects a leader and goes on; after healing, the minority
// catches up and its pending write's outcome is consistent.
func TestMinorityPartitionNoProgressThenHeals(t *testing.T) {
	c := NewCluster(t, Options{Members: 5})
	hist := kvmodel.NewHistory()
	cl := c.NewClient(0, hist)
	if !cl.Put(time.Now().Add(5*time.Second), "k", "before") {
		t.Fatal("put before partition failed")
	}
	lead := c.Leader()
	minority := []int{lead, (lead + 1) % 5}
	var minURLs, majURLs []string
	for i, m := range c.Members() {
		if i == minority[0] || i == minority[1] {
			minURLs = append(minURLs, m.URL)
		} else {
			majURLs = append(majURLs, m.URL)
		}
	}
	c.Net.Partition(minURLs, majURLs)

	// Right after the split the old leader still thinks it leads: neither
	// it (the classic stale-read trap, etcd #741) nor its companion may
	// serve a linearizable read.
	for _, i := range minority {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := c.Member(i).Node().Range(ctx, &pb.RangeRequest{Key: []byte("k")})
		cancel()
		if err == nil {
			t.Fatalf("a linearizable read on minority member %s succeeded", c.Member(i).Name)
		}
	}

	// Nor does a write succeed there (its outcome stays unknown until
	// the end of the history).
	old := c.Member(minority[0]).Node()
	call := hist.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	_, err := old.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("minority")})
	cancel()
	if err == nil {
		t.Fatal("a write on the minority side succeeded")
	}
	hist.Add(9, kvmodel.Input{Op: kvmodel.OpPut, Key: "k", Value: "minority"}, kvmodel.Output{Unknown: true}, call, hist.Now())
	// The majority elects a leader among itself and accepts writes.
	c.Eventually(5*time.Second, "a majority-side leader", func() bool {
		l := c.leaderIndex()
		return l >= 0 && l != minority[0] && l != minority[1]
	})
	if !c.majorityPut(t, minority, "k", "majority") {
		t.Fatal("majority-side put failed")
	}
	hist.Add(1, kvmodel.Input{Op: kvmodel.OpPut, Key: "k", Value: "majority"}, kvmodel.Output{}, call, hist.Now())

	c.Net.Heal()
	// The minority catches up: a read there sees the majority's write
	// (or a later one), and the history stays linearizable.
	if v, ok := cl.Get(time.Now().Add(5*time.Second), "k"); !ok || v == "before" {
		t.Fatalf("read after heal = %q, %v", v, ok)
	}
	c.Eventually(5*time.Second, "the old leader to catch up", func() bool {
		resp, err := old.Range(context.Background(), &pb.RangeRequest{Key: []byte("k"), Serializable: true})
		return err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) != "before"
	})
	hist.CheckLinearizable(t, 10*time.Second)
}

// majorityPut writes through a member outside skip, with retries.
func (c *Cluster) majorityPut(t *testing.T, skip []int, key, value string) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range c.Members() {
			if i == skip[0] || i == skip[1] || m.Node() == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := m.Node().Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(value)})
			cancel()
			if err == nil {
				return true
			}
		}
	}
	return false
}

// TestLaggingServerCatchesUpBySnapshot: a follower cut off while the
// others compact their logs past its position can only catch up through a
// snapshot, streamed to it after the partition heals; the snapshot is
// durable (it survives a restart).
func TestLaggingServerCatchesUpBySnapshot(t *testing.T) {
	c := NewCluster(t, Options{Members: 3, SnapshotCount: 50, SnapshotCatchUpEntries: 10})
	hist := kvmodel.NewHistory()
	cl := c.NewClient(0, hist)
	lead := c.Leader()
	lag := (lead + 1) % 3
	var others []string
	for i, m := range c.Members() {
		if i != lag {
			others = append(others, m.URL)
		}
	}
	c.Net.Partition([]string{c.Member(lag).URL}, others)
	lagged := c.Member(lag).Node().AppliedIndex()
	deadline := time.Now().Add(20 * time.Second)
	for i := range 200 {
		if _, ok := cl.Append(deadline, "k", "x"); !ok {
			t.Fatalf("append %d failed (last error %v)\n%s", i, cl.LastErr(), c.describe())
		}
	}
	first, _ := c.Member(c.Leader()).Node().LogRange()
	if first <= lagged+1 {
		t.Fatalf("leader log starts at %d, lagging member applied %d: no snapshot needed", first, lagged)
	}
	c.Net.Heal()
	target := c.Member(c.Leader()).Node().AppliedIndex()
	c.Eventually(10*time.Second, "the lagging member to catch up", func() bool {
		return c.Member(lag).Node().AppliedIndex() >= target
	})
	if err := c.Restart(lag, false); err != nil {
		t.Fatal(err)
	}
	// After the restart its log starts after a durable snapshot taken
	// past the point where it lagged.
	if restartFirst, _ := c.Member(lag).Node().LogRange(); restartFirst <= lagged+1 {
		t.Fatalf("restarted member's log starts at %d; want a snapshot past %d", restartFirst, lagged)
	}
	c.Eventually(5*time.Second, "the restarted member to hold all appends", func() bool {
		resp, err := c.Member(lag).Node().Range(context.Background(), &pb.RangeRequest{Key: []byte("k"), Serializable: true})
		return err == nil && len(resp.Kvs) == 1 && len(resp.Kvs[0].Value) == 200
	})
	hist.CheckLinearizable(t, 10*time.Second)
}
