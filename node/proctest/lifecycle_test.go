package proctest

import (
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Exit codes of cmd/raftnode (see its package doc).
const (
	exitOK     = 0
	exitFenced = 3
)

// TestGracefulStopMovesLeadership: SIGTERM to the leader exits 0 and the
// remaining members elect (were handed) a new leader and keep committing.
func TestGracefulStopMovesLeadership(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client()
	ctx := ctxT(t, 60*time.Second)
	if _, err := cli.Put(ctx, "before", "1"); err != nil {
		t.Fatal(err)
	}
	leader := c.waitLeader(30 * time.Second)
	checkGRPCHealth(t, leader, healthpb.HealthCheckResponse_SERVING)
	if err := c.stop(leader, 20*time.Second); err != nil {
		t.Fatalf("graceful stop of leader %s: %v", leader.name, err)
	}
	if code := leader.cmd.ProcessState.ExitCode(); code != exitOK {
		t.Errorf("exit code %d, want %d", code, exitOK)
	}
	next := c.waitLeader(10 * time.Second)
	if next == leader {
		t.Fatal("stopped member still leads")
	}
	if _, err := cli.Put(ctx, "after", "1"); err != nil {
		t.Fatalf("put after the leader stopped: %v", err)
	}
	logs := readFile(t, leader.logPath)
	// The log lines of cmd/raftnode and raftnode.Stop: the leader handed
	// over leadership instead of leaving the others to an election.
	if !strings.Contains(logs, "Stopping gracefully") || !strings.Contains(logs, "Transferring leadership before stopping") ||
		strings.Contains(logs, "Leadership transfer before stop failed") {
		t.Errorf("leader log does not show a graceful stop with a leadership transfer:\n%s", logs)
	}
}

// TestRemovedMemberIsFenced: a member removed from the cluster and then
// restarted with its old data dir must refuse to run, say why on /readyz
// and exit with code 3 after the grace period.
func TestRemovedMemberIsFenced(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.client()
	ctx := ctxT(t, 60*time.Second)
	leader := c.waitLeader(30 * time.Second)
	var victim *member
	for _, m := range c.members {
		if m != leader {
			victim = m
			break
		}
	}
	st, err := cli.Status(ctx, victim.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	c.kill9(victim)
	if _, err := cli.MemberRemove(ctx, st.Header.MemberId); err != nil {
		t.Fatalf("remove %s: %v", victim.name, err)
	}
	c.start(victim, "new", c.initialCluster())
	// Within the grace period (3s in tests) /readyz reports the fence...
	body := pollReadyz(t, victim, "not_fenced failed", 10*time.Second)
	t.Logf("/readyz of the fenced member:\n%s", body)
	// ...while /livez stays 200 so the kubelet keeps it for the grace period.
	if resp, err := http.Get(victim.metricsURL() + "/livez"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/livez of the fenced member = %v, %v; want 200", resp, err)
	} else {
		_ = resp.Body.Close()
	}
	// ...then the process exits with the fenced code.
	select {
	case <-victim.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("fenced member did not exit")
	}
	var exitErr *exec.ExitError
	if !errors.As(victim.exitErr, &exitErr) || exitErr.ExitCode() != exitFenced {
		t.Fatalf("exit = %v, want code %d", victim.exitErr, exitFenced)
	}
	if logs := readFile(t, victim.logPath); strings.Count(logs, "Node fenced") != 1 {
		t.Errorf("want exactly one 'Node fenced' log line:\n%s", logs)
	}
	// The cluster was not disturbed.
	if _, err := cli.Put(ctx, "still", "writable"); err != nil {
		t.Fatalf("cluster after the fenced start: %v", err)
	}
}

// pollReadyz polls m's /readyz?verbose until the body contains want.
func pollReadyz(t *testing.T, m *member, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(m.metricsURL() + "/readyz?verbose")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			last = string(b)
			if strings.Contains(last, want) {
				if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("/readyz status %d, want 503", resp.StatusCode)
				}
				return last
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz of %s never contained %q; last:\n%s\nlog:\n%s", m.name, want, last, readFile(t, m.logPath))
	return ""
}

func checkGRPCHealth(t *testing.T, m *member, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	conn, err := grpc.NewClient(m.endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	h := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := h.Check(ctxT(t, 2*time.Second), &healthpb.HealthCheckRequest{})
		if err == nil && resp.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("grpc health of %s = %v, %v; want %v", m.name, resp, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestForeignDataDirIsFenced: a member restarted on a data dir of another
// cluster (here: another --initial-cluster-token) refuses to start and
// exits with code 3 without touching anything.
func TestForeignDataDirIsFenced(t *testing.T) {
	c := newCluster(t, 1)
	m := c.members[0]
	if err := c.stop(m, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	c.token = "another-cluster"
	c.start(m, "new", c.initialCluster())
	body := pollReadyz(t, m, "not_fenced failed", 10*time.Second)
	if !strings.Contains(body, "token") {
		t.Errorf("/readyz does not say why:\n%s", body)
	}
	select {
	case <-m.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("fenced member did not exit")
	}
	var exitErr *exec.ExitError
	if !errors.As(m.exitErr, &exitErr) || exitErr.ExitCode() != exitFenced {
		t.Fatalf("exit = %v, want code %d", m.exitErr, exitFenced)
	}
}
