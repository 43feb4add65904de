package proctest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kuberaft/kuberaft/node/internal/powerfail"
	"github.com/kuberaft/kuberaft/node/kvmodel"
)

// Knobs of TestPowerLoss: more iterations for a longer soak, a seed to
// replay a failing run (the test logs the seed it used).
const (
	powerLossIterationsEnv = "KUBERAFT_POWERLOSS_ITERATIONS"
	powerLossSeedEnv       = "KUBERAFT_POWERLOSS_SEED"
	defaultPowerLossRounds = 50
)

// TestPowerLoss cuts the power of raftnode members at random moments under
// load: each member's data dir is on a powerfail FUSE mount, and a crash
// drops every write the member had not fsynced (a kill -9 alone keeps the
// page cache). Victims are one random member, the leader, or every member
// at once (a coordinated power failure). After each crash the members
// restart from what was durable. At the end every acknowledged write must
// still be readable and the whole history must be linearizable.
func TestPowerLoss(t *testing.T) {
	rounds := envInt(t, powerLossIterationsEnv, defaultPowerLossRounds)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(powerLossSeedEnv); s != "" {
		seed = uint64(envInt(t, powerLossSeedEnv, 0))
	}
	t.Logf("%d crash iterations, seed %d (%s=%d to replay)", rounds, seed, powerLossSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	root := t.TempDir()
	var disks []*powerfail.FS
	for i := range 3 {
		fsys, err := powerfail.Mount(filepath.Join(root, strconv.Itoa(i)))
		if err != nil {
			t.Fatalf("powerfail mount (needs /dev/fuse and root; see hack/node/fuse.sh): %v", err)
		}
		// Registered before the cluster: runs after its processes are killed.
		t.Cleanup(func() {
			if err := fsys.Unmount(); err != nil {
				t.Errorf("unmount: %v", err)
			}
		})
		disks = append(disks, fsys)
	}
	c := newClusterAt(t, 3, func(i int) string { return filepath.Join(disks[i].MountPoint(), "data") })
	hist := kvmodel.NewHistory()
	load := startLoad(t, c, hist, 4)
	start := time.Now()
	for i := range rounds {
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond) // load before the cut
		victims := pickVictims(c, rng)
		t.Logf("round %d: power cut on %v", i, names(victims))
		for _, m := range victims {
			powerCut(t, c, m, disks[c.index(m)])
		}
		for _, m := range victims {
			c.start(m, "new", c.initialCluster())
		}
		c.waitLeader(60 * time.Second)
		c.checkAllRunning()
	}
	time.Sleep(time.Second) // load on the healed cluster
	load.stop()
	t.Logf("%d power cuts in %v", rounds, time.Since(start).Round(time.Second))
	for i, d := range disks {
		if d.Syncs() == 0 {
			t.Fatalf("member %d never fsynced through the powerfail layer: the test observed nothing", i)
		}
	}
	if load.acked.Load() == 0 {
		t.Fatal("no write was acknowledged: the test observed nothing")
	}
	c.waitLeader(60 * time.Second)
	load.checkAcknowledgedWrites(t, c.client(), hist)
	t.Logf("%d writes acknowledged, %d operations recorded", load.acked.Load(), hist.Len())
	hist.CheckLinearizable(t, time.Minute)
}

// pickVictims chooses whom a round crashes: one random member, the
// leader, or all members.
func pickVictims(c *cluster, rng *rand.Rand) []*member {
	switch rng.IntN(3) {
	case 0:
		return []*member{c.members[rng.IntN(len(c.members))]}
	case 1:
		if l := c.waitLeader(60 * time.Second); l != nil {
			return []*member{l}
		}
	}
	return c.members
}

// powerCut crashes m's disk first, so nothing m writes from now on becomes
// durable, then kills m and brings the disk back with its durable content.
func powerCut(t *testing.T, c *cluster, m *member, disk *powerfail.FS) {
	t.Helper()
	disk.Crash()
	c.kill9(m)
	if err := disk.Remount(); err != nil {
		t.Fatalf("%s: remount after the power cut: %v", m.name, err)
	}
}

func (c *cluster) index(m *member) int {
	for i, x := range c.members {
		if x == m {
			return i
		}
	}
	c.t.Fatalf("%s is not a member", m.name)
	return -1
}

// checkAllRunning fails the test if a member exited by itself (e.g. it
// could not restart from its durable state).
func (c *cluster) checkAllRunning() {
	c.t.Helper()
	for _, m := range c.members {
		if !c.running(m) {
			c.t.Fatalf("%s exited after restart: %v; log %s", m.name, m.exitErr, m.logPath)
		}
	}
}

// envInt reads a positive integer knob, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}
