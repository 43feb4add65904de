package proctest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestByHand runs the README's by-hand commands, exactly as written
// there, against the real etcdctl v3.6 at $ETCDCTL (make test sets it from
// the cluster tools build). With ETCDCTL unset (a bare `go test`) it skips;
// set but missing is a failure.
func TestByHand(t *testing.T) {
	etcdctl := os.Getenv("ETCDCTL")
	if etcdctl == "" {
		t.Skip("ETCDCTL is not set (make test sets it to the built etcdctl)")
	}
	if st, err := os.Stat(etcdctl); err != nil || st.IsDir() {
		t.Fatalf("ETCDCTL=%s: not a binary (%v); run make tools-etcd", etcdctl, err)
	}
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start, check := shellBlock(t, string(doc), "by-hand:start"), shellBlock(t, string(doc), "by-hand:check")

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"raftnode": raftnodeBin, "etcdctl": etcdctl} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	checkPortsFree(t, start)
	startOut := runStart(t, dir, env, start)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", check)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check block failed: %v\n%s\nstart block output:\n%s\n%s", err, out, startOut, tailLogs(dir))
	}
	assertByHandOutput(t, string(out))
}

// runStart runs the start block in its own process group (the raftnode
// processes it backgrounds stay in it) and kills that group at cleanup.
func runStart(t *testing.T, dir string, env []string, block string) string {
	t.Helper()
	outPath := filepath.Join(dir, "start.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Close() }()
	cmd := exec.Command("bash", "-c", block)
	// Files, not pipes: the backgrounded members keep stdout open, and a
	// pipe would make Wait block until they exit.
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("start block did not finish in 60s\n%s", tailLogs(dir))
	}
	data, _ := os.ReadFile(outPath)
	if err != nil {
		t.Fatalf("start block: %v\n%s", err, data)
	}
	return string(data)
}

func assertByHandOutput(t *testing.T, out string) {
	t.Helper()
	wants := []string{
		"OK\n",                        // put
		"greeting\nhello\n",           // get
		"n1 | http://127.0.0.1:21380", // member list
		"n2 | http://127.0.0.1:21480",
		"n3 | http://127.0.0.1:21580",
		"127.0.0.1:21379 is healthy", // endpoint health
		"127.0.0.1:21479 is healthy",
		"127.0.0.1:21579 is healthy",
		"[+]linearizable_read ok", // /readyz?verbose
		`"role": "`,               // /status
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	// endpoint status -w table: one row per member, exactly one leader
	// (IS LEADER true, IS LEARNER false).
	if n := len(regexp.MustCompile(`(?m)^\| 127\.0\.0\.1:21[345]79 \|`).FindAllString(out, -1)); n != 3 {
		t.Errorf("endpoint status rows = %d, want 3", n)
	}
	if n := len(regexp.MustCompile(`\|\s+true \|\s+false \|`).FindAllString(out, -1)); n != 1 {
		t.Errorf("endpoint status shows %d leaders, want 1", n)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// checkPortsFree fails with a clear message when a port the commands use is
// taken (another etcd, another run) instead of a confusing timeout later.
func checkPortsFree(t *testing.T, block string) {
	t.Helper()
	for _, addr := range regexp.MustCompile(`127\.0\.0\.1:\d+`).FindAllString(block, -1) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the README's by-hand cluster needs %s, which is taken: %v", addr, err)
		}
		_ = l.Close()
	}
}

// shellBlock returns the ```sh block after the <!-- marker --> comment.
func shellBlock(t *testing.T, doc, marker string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- "+marker+" -->")
	if !ok {
		t.Fatalf("README.md has no <!-- %s --> block", marker)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("no ```sh block after %s", marker)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("unterminated block after %s", marker)
	}
	return block
}

// tailLogs returns the last lines of the members' logs in dir.
func tailLogs(dir string) string {
	var b strings.Builder
	for _, n := range []string{"n1", "n2", "n3"} {
		data, err := os.ReadFile(filepath.Join(dir, n+".log"))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		b.WriteString("---- " + n + ".log ----\n" + strings.Join(lines[max(0, len(lines)-15):], "\n") + "\n")
	}
	return b.String()
}
