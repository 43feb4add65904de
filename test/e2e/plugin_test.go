//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	raftv1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/internal/raftctl"
)

// buildPlugin builds kubectl-raft into the artifact folder.
func (s *suite) buildPlugin(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(s.artifacts, "bin", "kubectl-raft")
	if _, err := s.run(ctx, "", "go", "build", "-o", bin, "./cmd/kubectl-raft"); err != nil {
		t.Fatal(err)
	}
	return bin
}

// watchRecorder runs `kubectl raft status --watch` and keeps every byte it
// prints, so a check looks at every frame, not at one poll.
type watchRecorder struct {
	mu     sync.Mutex
	out    bytes.Buffer
	cancel context.CancelFunc
	done   chan error
}

func (w *watchRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// frames returns the text frames recorded so far.
func (w *watchRecorder) frames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, f := range strings.Split(w.out.String(), raftctl.FrameMarker) {
		if strings.TrimSpace(f) != "" {
			out = append(out, raftctl.FrameMarker+f)
		}
	}
	return out
}

func startWatch(plugin string, args ...string) (*watchRecorder, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRecorder{cancel: cancel, done: make(chan error, 1)}
	cmd := exec.CommandContext(ctx, plugin, args...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	go func() { w.done <- cmd.Wait() }()
	return w, nil
}

// stop ends the watch (bounded) and returns everything it printed.
func (w *watchRecorder) stop() string {
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// A frame of the held scale-out: both learners, and the operation at Promote.
var (
	learnersFrame = regexp.MustCompile(`(?m)^Learners:\s+pl-3, pl-4$`)
	heldFrame     = regexp.MustCompile(`(?m)^Operation:\s+ScaleOut, step Promote, targets \[(pl-3 pl-4|pl-4 pl-3)\]`)
)

// testKubectlPlugin: `kubectl raft status --watch` records every frame of
// a 3→5 scale-out that the operator (started with --enable-test-holds)
// holds at its Promote step, the step that enters the joint configuration;
// a frame must show both learners and the ScaleOut operation at step
// Promote. The hold is a state, not a moment, so no poll can miss it; the
// joint configuration itself lasts milliseconds inside the node and is
// covered by the renderer's golden test. After the release the cluster
// converges on 5 voters, and `kubectl raft move-leader --wait` moves
// leadership through the operator.
func testKubectlPlugin(t *testing.T) {
	s := env
	sc := s.newScenario(t, "plugin")
	plugin := s.buildPlugin(t)
	rc := s.applyCluster(t, sc.ns, "pl", 3, s.tagA)
	rc.waitConverged(t, 3, 5*time.Minute)
	s.mustKubectl(t, "", "-n", sc.ns, "annotate", "raftcluster/pl", raftv1.AnnotationTestHoldBefore+"=Promote")

	w, err := startWatch(plugin, "-n", sc.ns, "status", "pl", "--watch", "--interval", "1s")
	if err != nil {
		t.Fatal(err)
	}
	var recorded string
	t.Cleanup(func() {
		if recorded == "" {
			recorded = w.stop()
		}
		s.writeArtifact("plugin", "watch.txt", recorded)
		if t.Failed() {
			frames := w.frames()
			if n := len(frames); n > 0 {
				t.Logf("%d frames recorded (all in %s/plugin-watch.txt); the last:\n%s", n, s.artifacts, frames[n-1])
			}
		}
	})
	begin := time.Now()
	rc.scale(t, 5)

	eventually(t, 6*time.Minute, time.Second, "the scale-out held at Promote with learners pl-3, pl-4 in a --watch frame",
		func(ctx context.Context) (bool, string) {
			frames := w.frames()
			for _, f := range frames {
				if heldFrame.MatchString(f) && learnersFrame.MatchString(f) {
					return true, ""
				}
			}
			if len(frames) == 0 {
				return false, "no frame yet"
			}
			return false, "last frame:\n" + frames[len(frames)-1]
		})
	sc.figure("held at Promote %s after the scale began; %d frames so far", time.Since(begin).Round(time.Second), len(w.frames()))

	s.mustKubectl(t, "", "-n", sc.ns, "annotate", "raftcluster/pl", raftv1.AnnotationTestHoldBefore+"-")
	rc.waitConverged(t, 5, 6*time.Minute)
	recorded = w.stop()
	sc.figure("converged on 5 voters %s after the scale began; %d --watch frames recorded",
		time.Since(begin).Round(time.Second), strings.Count(recorded, raftctl.FrameMarker))

	report := pluginReport(t, plugin, sc.ns, "pl")
	if len(report.Members) != 5 || len(report.Learners) != 0 || report.Leader == "" {
		t.Fatalf("after the scale-out kubectl raft status -o json shows %d members, learners %v, leader %q",
			len(report.Members), report.Learners, report.Leader)
	}

	target := ""
	for _, m := range report.Members {
		if m.Pod != report.Leader && (target == "" || m.Pod < target) {
			target = m.Pod
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := s.run(ctx, "", plugin, "-n", sc.ns, "move-leader", "pl", "--to", target, "--wait", "--timeout", "3m")
	if err != nil {
		t.Fatalf("kubectl raft move-leader: %v", err)
	}
	sc.figure("move-leader %s → %s: %s", report.Leader, target, strings.TrimSpace(out))
	eventually(t, 2*time.Minute, time.Second, "status.leader "+target, func(ctx context.Context) (bool, string) {
		obj, err := rc.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		return obj.Status.Leader == target, "leader " + obj.Status.Leader
	})
}

// pluginReport runs `kubectl raft status NAME -o json` (bounded, retried
// until it parses: the API server may be briefly busy); stderr is kept
// apart so that client warnings do not break the JSON.
func pluginReport(t *testing.T, plugin, ns, name string) raftctl.Report {
	t.Helper()
	var r raftctl.Report
	eventually(t, time.Minute, 2*time.Second, "kubectl raft status -o json", func(ctx context.Context) (bool, string) {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, plugin, "-n", ns, "status", name, "-o", "json")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return false, fmt.Sprintf("%v: %s", err, stderr.String())
		}
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			return false, fmt.Sprintf("%v in %s", err, stdout.String())
		}
		return true, ""
	})
	return r
}
