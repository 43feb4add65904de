package proctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProofEtcdctl is issue 11's proof 3: the real etcdctl v3.6 (from the
// cluster tools build) works unchanged against the cluster: watch with
// --rev, --prefix and --prev-kv; lease grant, keep-alive, timetolive,
// list and revoke; put --lease; lock; elect (campaign and listen);
// compaction; get --rev, before and after the compaction. Outputs are
// compared exactly where etcdctl's format is fixed.
func TestProofEtcdctl(t *testing.T) {
	c := newSystemCluster(t, clusterOptions{})
	ctl := &etcdctl{t: t, bin: toolBinary(t, "etcdctl"), endpoints: strings.Join(c.endpoints(), ",")}

	r1 := ctl.putRev("/ctl/a", "1")
	r2 := ctl.putRev("/ctl/a", "2")
	ctl.expect("1\n", "get", "/ctl/a", "--rev", fmt.Sprint(r1), "--print-value-only")
	ctl.expect("2\n", "get", "/ctl/a", "--print-value-only")

	t.Run("watch --prefix --rev --prev-kv", func(t *testing.T) {
		ctl := ctl.with(t)
		w := ctl.background("watch", "--prefix", "/ctl/", "--rev", fmt.Sprint(r1), "--prev-kv")
		ctl.expect("OK\n", "put", "/ctl/b", "x")
		ctl.expect("1\n", "del", "/ctl/a")
		want := "PUT\n/ctl/a\n1\n" + // r1: a create, no prev
			"PUT\n/ctl/a\n1\n/ctl/a\n2\n" + // r2: prev a=1, then a=2
			"PUT\n/ctl/b\nx\n" +
			"DELETE\n/ctl/a\n2\n/ctl/a\n\n" // prev a=2, then the tombstone
		w.waitFor(t, want)
	})

	t.Run("lease and put --lease", func(t *testing.T) {
		ctl := ctl.with(t)
		out := ctl.run("lease", "grant", "60")
		m := regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\(60s\)\n$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("lease grant printed %q", out)
		}
		id := m[1]
		ctl.expect("OK\n", "put", "/ctl/leased", "v", "--lease", id)
		ctl.expectMatch(`^lease `+id+` granted with TTL\(60s\), remaining\(\d+s\), attached keys\(\[/ctl/leased\]\)\n$`, "lease", "timetolive", id, "--keys")
		ctl.expect("lease "+id+" keepalived with TTL(60)\n", "lease", "keep-alive", "--once", id)
		ctl.expectMatch(`(?m)^`+id+`$`, "lease", "list")
		ctl.expect("lease "+id+" revoked\n", "lease", "revoke", id)
		ctl.expect("", "get", "/ctl/leased")
		ctl.expect("lease "+id+" already expired\n", "lease", "timetolive", id)
	})

	t.Run("lock", func(t *testing.T) {
		ctl := ctl.with(t)
		// With a command, lock runs it while holding the lock and passes the
		// lock key in ETCD_LOCK_KEY.
		ctl.expectMatch(`^held /ctl/mylock/[0-9a-f]+\n$`, "lock", "/ctl/mylock", "--", "sh", "-c", "echo held $ETCD_LOCK_KEY")
		ctl.expect("", "get", "/ctl/mylock", "--prefix")
	})

	t.Run("elect", func(t *testing.T) {
		ctl := ctl.with(t)
		leader := ctl.background("elect", "/ctl/el", "p1")
		leader.waitForMatch(t, `^/ctl/el/[0-9a-f]+\np1\n$`)
		listener := ctl.background("elect", "--listen", "/ctl/el")
		listener.waitForMatch(t, `^/ctl/el/[0-9a-f]+\np1\n$`)
	})

	t.Run("compaction", func(t *testing.T) {
		ctl := ctl.with(t)
		ctl.expect(fmt.Sprintf("compacted revision %d\n", r2), "compaction", fmt.Sprint(r2))
		out, err := ctl.runErr("get", "/ctl/a", "--rev", fmt.Sprint(r1))
		if err == nil || !strings.Contains(out, "required revision has been compacted") {
			t.Fatalf("get --rev below the compaction: err %v, output %q", err, out)
		}
		w := ctl.background("watch", "/ctl/a", "--rev", fmt.Sprint(r1))
		w.waitForMatch(t, `watch was canceled \(etcdserver: mvcc: required revision has been compacted\)`)
	})
}

// etcdctl runs the etcdctl binary against the cluster's endpoints.
type etcdctl struct {
	t         *testing.T
	bin       string
	endpoints string
}

// with returns e reporting to t (a subtest must fail its own t).
func (e *etcdctl) with(t *testing.T) *etcdctl {
	c := *e
	c.t = t
	return &c
}

func (e *etcdctl) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, e.bin, append([]string{"--endpoints", e.endpoints, "--dial-timeout=5s", "--command-timeout=10s"}, args...)...)
}

func (e *etcdctl) runErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.command(ctx, args...).CombinedOutput()
	return string(out), err
}

func (e *etcdctl) run(args ...string) string {
	e.t.Helper()
	out, err := e.runErr(args...)
	if err != nil {
		e.t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *etcdctl) expect(want string, args ...string) {
	e.t.Helper()
	if got := e.run(args...); got != want {
		e.t.Fatalf("etcdctl %s printed %q, want %q", strings.Join(args, " "), got, want)
	}
}

func (e *etcdctl) expectMatch(pattern string, args ...string) {
	e.t.Helper()
	if got := e.run(args...); !regexp.MustCompile(pattern).MatchString(got) {
		e.t.Fatalf("etcdctl %s printed %q, want a match of %q", strings.Join(args, " "), got, pattern)
	}
}

// putRev puts and returns the revision etcdctl's JSON output reports.
func (e *etcdctl) putRev(key, val string) int64 {
	e.t.Helper()
	var resp struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	out := e.run("put", key, val, "-w", "json")
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Header.Revision == 0 {
		e.t.Fatalf("etcdctl put -w json printed %q (%v)", out, err)
	}
	return resp.Header.Revision
}

// bgCmd is an etcdctl that runs until the test ends (watch, elect).
type bgCmd struct {
	args string
	mu   sync.Mutex
	out  bytes.Buffer
}

func (b *bgCmd) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *bgCmd) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func (e *etcdctl) background(args ...string) *bgCmd {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bgCmd{args: strings.Join(args, " ")}
	cmd := e.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = b, b
	if err := cmd.Start(); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return b
}

// waitFor waits (bounded) until the output is exactly want.
func (b *bgCmd) waitFor(t *testing.T, want string) {
	t.Helper()
	b.waitUntil(t, fmt.Sprintf("%q", want), func(s string) bool { return s == want })
}

func (b *bgCmd) waitForMatch(t *testing.T, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	b.waitUntil(t, "a match of "+pattern, re.MatchString)
}

func (b *bgCmd) waitUntil(t *testing.T, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(b.output()) {
		if time.Now().After(deadline) {
			t.Fatalf("etcdctl %s printed %q within 20s, want %s", b.args, b.output(), what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
