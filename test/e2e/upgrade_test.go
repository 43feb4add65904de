//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// restartWatcher watches the cluster's pods and, the moment a pod is
// marked for deletion, asks every node who leads: the evidence that no
// member was taken down while it led.
type restartWatcher struct {
	mu       sync.Mutex
	restarts []e2echeck.Restart
	seen     map[types.UID]bool
	stop     context.CancelFunc
	done     chan struct{}
}

func (s *suite) watchRestarts(t *testing.T, rc *raftCluster, ids map[string]uint64) *restartWatcher {
	t.Helper()
	wc, err := client.NewWithWatch(s.cfg, client.Options{Scheme: s.c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(rc.ns))
	if err != nil {
		cancel()
		t.Fatalf("watch pods: %v", err)
	}
	rw := &restartWatcher{seen: map[types.UID]bool{}, stop: cancel, done: make(chan struct{})}
	t.Cleanup(func() { rw.finish() })
	go func() {
		defer close(rw.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Labels["raft.kuberaft.io/cluster"] == "" || (p.DeletionTimestamp == nil && ev.Type != watch.Deleted) || rw.seen[p.UID] {
				continue
			}
			rw.seen[p.UID] = true
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			snap, _ := s.snapshot(sctx, rc.d, rc.ns)
			scancel()
			rw.mu.Lock()
			rw.restarts = append(rw.restarts, e2echeck.Restart{Pod: p.Name, ID: ids[p.Name], LeaderAtDeletion: e2echeck.LeaderAt(snap)})
			rw.mu.Unlock()
		}
	}()
	return rw
}

func (rw *restartWatcher) finish() []e2echeck.Restart {
	rw.stop()
	<-rw.done
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]e2echeck.Restart(nil), rw.restarts...)
}

// testRollingUpgradeUnderLoad: spec.version moves from tag A to tag B while
// clients write and read. Followers restart first, the leader last after
// leadership moved away; no acknowledged write is lost; porcupine finds
// the history linearizable; the longest write gap is reported.
func testRollingUpgradeUnderLoad(t *testing.T) {
	s := env
	sc := s.newScenario(t, "upgrade")
	rc := s.applyCluster(t, sc.ns, "up", 3, s.tagA)
	snap := rc.waitConverged(t, 3, 5*time.Minute)
	endpoint := rc.clientEndpoint(t)
	ids := map[string]uint64{}
	for _, smp := range snap {
		ids[smp.Pod] = smp.ID
	}
	initialLeader := e2echeck.LeaderAt(snap)

	smp := s.startSampler(t, sc.ns, rc.d, 200*time.Millisecond)
	restarts := s.watchRestarts(t, rc, ids)
	load := startLoad(t, endpoint, "upgrade")
	eventually(t, time.Minute, 100*time.Millisecond, "a baseline of client load", func(context.Context) (bool, string) {
		n := load.ops.Load()
		return n >= 50, fmt.Sprintf("%d ops", n)
	})
	from := time.Now()
	s.mustKubectl(t, "", "-n", sc.ns, "patch", "raftcluster", rc.name, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"version":%q}}`, s.tagB))

	want := raftv1.DefaultImageRepository + ":" + s.tagB
	eventually(t, 12*time.Minute, time.Second, "every member on "+want, func(ctx context.Context) (bool, string) {
		ok, msg, _ := rc.converged(ctx, 3)
		if !ok {
			return false, msg
		}
		obj, err := rc.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		if obj.Status.CurrentVersion != s.tagB {
			return false, fmt.Sprintf("status.currentVersion %q", obj.Status.CurrentVersion)
		}
		pods, err := s.pods(ctx, rc.ns)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods {
			if img := p.Spec.Containers[0].Image; img != want || !podReady(&p) {
				return false, fmt.Sprintf("pod %s runs %s (ready %v)", p.Name, img, podReady(&p))
			}
		}
		return true, ""
	})
	to := time.Now()
	sc.figure("upgrade %s→%s took %s", s.tagA, s.tagB, to.Sub(from).Round(100*time.Millisecond))

	order := restarts.finish()
	samples := smp.finish()
	rep := load.stopAndVerify(t, endpoint, "upgrade", filepath.Join(s.artifacts, "upgrade-porcupine.html"), from, to)
	pods := map[uint64]string{}
	for pod, id := range ids {
		pods[id] = pod
	}
	var seq []string
	for _, r := range order {
		seq = append(seq, fmt.Sprintf("%s (leader then: %s)", r.Pod, pods[r.LeaderAtDeletion]))
	}
	sc.figure("initial leader %s; restart order %s", pods[initialLeader], strings.Join(seq, " → "))
	if err := e2echeck.CheckLeaderLast(initialLeader, 3, order); err != nil {
		t.Errorf("upgrade order: %v", err)
	}
	sc.checkVoterCounts(samples, 3)
	sc.report(rep)
}
