package proctest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kuberaft/kuberaft/node/kvmodel"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// etcdctlBin is the real etcdctl (make test sets ETCDCTL). Missing is a
// failure, not a skip: these tests are about etcdctl compatibility.
func etcdctlBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("ETCDCTL")
	if p == "" {
		t.Fatal("ETCDCTL is not set: run through make test, or set it to the etcdctl from make tools-etcd")
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		t.Fatalf("ETCDCTL=%s: not a binary (%v); run make tools-etcd", p, err)
	}
	return p
}

// TestSnapshotSaveThenRestore: writes under load (history recorded), then
// `etcdctl snapshot save` against a follower, then a new cluster started
// with --restore-from: same keys and values, every acknowledged write
// present, new cluster and member IDs, the whole history (source cluster
// and reads on the restored one) linearizable; the restored cluster
// restarts with the flag still set and grows through learner + promote.
func TestSnapshotSaveThenRestore(t *testing.T) {
	etcdctl := etcdctlBin(t)
	src := newCluster(t, 3)
	hist := kvmodel.NewHistory()
	load := startLoad(t, src, hist, 4)
	waitAcked(t, &load.acked, 50, 60*time.Second)
	load.stop() // every acknowledged write now precedes the snapshot
	leader := src.waitLeader(30 * time.Second)
	follower := src.members[0]
	if follower == leader {
		follower = src.members[1]
	}
	file := filepath.Join(t.TempDir(), "backup.db")
	saveSnapshot(t, etcdctl, follower, file)
	want, oldIDs, oldCluster := dumpCluster(t, src.client())
	for _, m := range src.members {
		src.kill9(m) // the source is gone; nothing can leak from it
	}

	dst := &cluster{t: t, root: t.TempDir(), token: "restored"}
	r0 := dst.newMember("r0")
	r0.extra = []string{"--restore-from", file}
	dst.members = []*member{r0}
	t.Cleanup(dst.cleanup)
	dst.start(r0, "new", dst.initialCluster())
	dst.waitLeader(30 * time.Second)
	assertRestored(t, dst.client(), want, oldIDs, oldCluster)
	load.checkAcknowledgedWrites(t, dst.client(), hist)
	hist.CheckLinearizable(t, 30*time.Second)

	// One-shot: a restart with --restore-from still set keeps the data.
	if err := dst.stop(r0, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	dst.start(r0, "new", dst.initialCluster())
	dst.waitLeader(30 * time.Second)
	assertRestored(t, dst.client(), want, oldIDs, oldCluster)
	growByLearner(t, dst)
	assertSameHash(t, dst)
}

// assertSameHash waits until every member reports the same revision in
// HashKV (the learner catches up), then requires the same hash: the
// members hold the same keys (Maintenance.HashKV for divergence checks).
func assertSameHash(t *testing.T, c *cluster) {
	t.Helper()
	cli := c.client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var revs []int64
		var hashes []uint32
		for _, m := range c.members {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := cli.HashKV(ctx, m.endpoint(), 0)
			cancel()
			if err != nil {
				t.Fatalf("HashKV %s: %v", m.name, err)
			}
			revs, hashes = append(revs, resp.HashRevision), append(hashes, resp.Hash)
		}
		if slices.Min(revs) == slices.Max(revs) {
			if slices.Min(hashes) != slices.Max(hashes) {
				t.Fatalf("members at revision %d disagree: hashes %x", revs[0], hashes)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members did not reach the same revision: %v", revs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAcked waits until the load has n acknowledged writes.
func waitAcked(t *testing.T, acked *atomic.Int64, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for acked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes acknowledged within %v: the cluster made no progress", acked.Load(), n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saveSnapshot runs etcdctl snapshot save against m into file.
func saveSnapshot(t *testing.T, etcdctl string, m *member, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, etcdctl, "--endpoints", m.endpoint(), "snapshot", "save", file).CombinedOutput()
	if err != nil {
		t.Fatalf("etcdctl snapshot save: %v\n%s", err, out)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size()%snapfile.PageSize != snapfile.TrailerSize {
		t.Fatalf("saved file is %d bytes: no sha256 trailer", st.Size())
	}
}

// dumpCluster returns every key's value, the member IDs and cluster ID.
func dumpCluster(t *testing.T, cli *clientv3.Client) (map[string]string, []uint64, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	kvs := map[string]string{}
	for _, kv := range resp.Kvs {
		kvs[string(kv.Key)] = string(kv.Value)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, m := range ml.Members {
		ids = append(ids, m.ID)
	}
	return kvs, ids, ml.Header.ClusterId
}

// assertRestored checks the restored cluster's keys and its fresh IDs.
func assertRestored(t *testing.T, cli *clientv3.Client, want map[string]string, oldIDs []uint64, oldCluster uint64) {
	t.Helper()
	got, ids, cluster := dumpCluster(t, cli)
	if len(got) != len(want) {
		t.Errorf("restored %d keys, source had %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %s: restored %q, source %q", k, got[k], v)
		}
	}
	if cluster == oldCluster {
		t.Errorf("restored cluster reuses the source cluster ID %x", cluster)
	}
	for _, id := range ids {
		if slices.Contains(oldIDs, id) {
			t.Errorf("restored cluster reuses member ID %x", id)
		}
	}
}

// growByLearner adds a second member as a learner and promotes it once it
// caught up: a restored single voter cannot take a voter MemberAdd (strict
// reconfiguration would leave it without quorum until the new member runs).
func growByLearner(t *testing.T, c *cluster) {
	t.Helper()
	m := c.newMember("r1")
	cli := c.client(c.members[0].endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	added, err := cli.MemberAddAsLearner(ctx, []string{m.peerURL()})
	if err != nil {
		t.Fatal(err)
	}
	c.members = append(c.members, m)
	c.start(m, "existing", c.initialCluster())
	for {
		_, err := cli.MemberPromote(ctx, added.Member.ID)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("promote the learner: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // not caught up yet
	}
	c.waitLeader(30 * time.Second)
}

// TestRestoreRefusesBadInput: a truncated or corrupted file, and a data
// dir that already holds data, make raftnode exit with a clear reason and
// leave no data dir behind.
func TestRestoreRefusesBadInput(t *testing.T) {
	src := newCluster(t, 1)
	cli := src.client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[100] ^= 0xff
	dir := t.TempDir()
	for _, tc := range []struct {
		name, wantLog string
		data          []byte
		wantCode      int
		existingData  bool
	}{
		{"truncated", "corrupt or truncated", good[:len(good)-7], 1, false},
		{"flipped byte", "SHA-256 mismatch", flipped, 1, false},
		{"non-empty data dir", "already holds data", good, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".db")
			if err := os.WriteFile(file, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			m := src.newMember("bad-" + strings.ReplaceAll(tc.name, " ", "-"))
			if tc.existingData {
				m.dataDir = src.members[0].dataDir
				src.kill9(src.members[0])
			}
			m.extra = []string{"--restore-from", file, "--fenced-grace-period=0s"}
			c := &cluster{t: t, root: dir, token: "bad", members: []*member{m}}
			c.start(m, "new", c.initialCluster())
			select {
			case <-m.exited:
			case <-time.After(60 * time.Second):
				c.kill9(m)
				t.Fatal("raftnode did not refuse the restore")
			}
			var ee *exec.ExitError
			if !errors.As(m.exitErr, &ee) || ee.ExitCode() != tc.wantCode {
				t.Fatalf("exit %v, want code %d\n%s", m.exitErr, tc.wantCode, readFile(t, m.logPath))
			}
			if log := readFile(t, m.logPath); !strings.Contains(log, tc.wantLog) {
				t.Fatalf("log does not say %q:\n%s", tc.wantLog, log)
			}
			if !tc.existingData {
				if _, err := os.Stat(filepath.Join(m.dataDir, "member")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a refused restore left data behind: %v", err)
				}
			}
		})
	}
}

// TestBackupAgentSavesAndDeletes runs `raftnode backup save` (what the
// operator's Job runs for a PVC destination) against a member: the file is
// a verified snapshot and the result file describes it; `backup delete`
// removes it; a key escaping the volume is refused.
func TestBackupAgentSavesAndDeletes(t *testing.T) {
	src := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := src.client().Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	result := filepath.Join(dir, "result.json")
	agent := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, raftnodeBin, append([]string{"backup"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := agent("save", "--endpoint", src.members[0].endpoint(), "--dir", dir, "--key", "ns/c/b.db", "--result", result); err != nil {
		t.Fatalf("backup save: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "ns/c/b.db"))
	if err != nil {
		t.Fatal(err)
	}
	info, _, err := snapfile.Read(data)
	if err != nil {
		t.Fatal(err)
	}
	desc := readFile(t, result)
	if info.AppliedIndex == 0 || !strings.Contains(desc, info.SHA256) {
		t.Fatalf("result %s does not describe the file %+v", desc, info)
	}
	if out, err := agent("delete", "--dir", dir, "--key", "ns/c/b.db"); err != nil {
		t.Fatalf("backup delete: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "ns/c/b.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there after delete: %v", err)
	}
	if out, err := agent("delete", "--dir", dir, "--key", "../x"); err == nil {
		t.Fatalf("a key escaping the volume was accepted:\n%s", out)
	}
}
