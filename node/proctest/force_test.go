package proctest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestForceNewClusterAfterQuorumLoss: two of three members are lost for
// good; the survivor restarted with --force-new-cluster serves its
// committed data alone under a new cluster ID. A restart with the flag
// still set (same --force-new-cluster-id) does not force again: same
// cluster ID, same data; a new ID would.
func TestForceNewClusterAfterQuorumLoss(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	want, _, oldCluster := dumpCluster(t, cli)
	survivor := c.members[0]
	st, err := cli.Status(ctx, survivor.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	survivorID := st.Header.MemberId
	for _, m := range c.members {
		c.kill9(m) // m1, m2: lost for good (never restarted)
	}

	survivor.extra = []string{"--force-new-cluster", "--force-new-cluster-id=plan-1"}
	c.start(survivor, "new", c.initialCluster())
	forced := c.client(survivor.endpoint())
	c.waitLeaderOf(survivor, 30*time.Second)
	got, ids, cluster := dumpCluster(t, forced)
	assertSameKeys(t, got, want)
	if cluster == oldCluster {
		t.Errorf("forced cluster kept the old cluster ID %x", cluster)
	}
	if len(ids) != 1 || ids[0] != survivorID {
		t.Errorf("forced cluster members %x, want only the survivor", ids)
	}
	if _, err := forced.Put(ctx, "after", "force"); err != nil {
		t.Fatalf("the forced cluster does not take writes: %v", err)
	}
	want["after"] = "force"

	// Flag still set, same force ID: a normal restart.
	if err := c.stop(survivor, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	c.start(survivor, "new", c.initialCluster())
	c.waitLeaderOf(survivor, 30*time.Second)
	got, _, again := dumpCluster(t, c.client(survivor.endpoint()))
	assertSameKeys(t, got, want)
	if again != cluster {
		t.Errorf("a restart with the same --force-new-cluster-id forced again: cluster %x, then %x", cluster, again)
	}
}

// waitLeaderOf waits until m alone leads (its peers are gone).
func (c *cluster) waitLeaderOf(m *member, timeout time.Duration) {
	c.t.Helper()
	cli := c.client(m.endpoint())
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.endpoint())
		cancel()
		if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s did not become leader within %v", m.name, timeout)
}

func assertSameKeys(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %s = %q, want %q", k, got[k], v)
		}
	}
}
