//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// multiNodeEnv turns on the scenarios that need several schedulable nodes
// (make e2e-kind sets it; the offline cluster has one node).
const multiNodeEnv = "E2E_MULTINODE"

// multiNodeSteps are appended before the rolling upgrade when multiNodeEnv=1.
func multiNodeSteps() []struct {
	name string
	run  func(t *testing.T)
} {
	if os.Getenv(multiNodeEnv) != "1" {
		return nil
	}
	return []struct {
		name string
		run  func(t *testing.T)
	}{
		{"spread", testSpread},
		{"node-drain-under-load", testNodeDrainUnderLoad},
	}
}

// schedulableNodes lists the nodes pods can land on; a multi-node scenario
// on fewer than want of them fails (a cluster that cannot show the
// behaviour is a broken setup, not a reason to skip).
func (s *suite) schedulableNodes(t *testing.T, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var nodes corev1.NodeList
	if err := s.c.List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable || hasNoScheduleTaint(&n) {
			continue
		}
		names = append(names, n.Name)
	}
	if len(names) < want {
		t.Fatalf("%s=1 needs %d schedulable nodes, the cluster has %v", multiNodeEnv, want, names)
	}
	return names
}

func hasNoScheduleTaint(n *corev1.Node) bool {
	for _, tn := range n.Spec.Taints {
		if tn.Effect == corev1.TaintEffectNoSchedule || tn.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

// podNodes maps each member pod of the namespace to its node.
func (s *suite) podNodes(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := s.pods(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods {
		out[p.Name] = p.Spec.NodeName
	}
	return out
}

// testSpread: with the default pod template (preferred anti-affinity on
// hostname), a 3-member cluster on 3 schedulable nodes has one member per
// node.
func testSpread(t *testing.T) {
	s := env
	s.schedulableNodes(t, 3)
	sc := s.newScenario(t, "spread")
	rc := s.applyCluster(t, sc.ns, "sp", 3, s.tagA)
	rc.waitConverged(t, 3, 5*time.Minute)
	placed := s.podNodes(t, sc.ns)
	byNode := map[string][]string{}
	for pod, node := range placed {
		byNode[node] = append(byNode[node], pod)
	}
	sc.figure("placement %v", placed)
	if len(placed) != 3 || len(byNode) != 3 {
		t.Errorf("3 members on %d distinct nodes, want 3: %v", len(byNode), byNode)
	}
}

// availabilityWatcher feeds the namespace's pod events into an
// e2echeck.Availability while a scenario runs.
type availabilityWatcher struct {
	mu   sync.Mutex
	a    *e2echeck.Availability
	stop context.CancelFunc
	done chan struct{}
}

func (s *suite) watchAvailability(t *testing.T, ns string, members []string) *availabilityWatcher {
	t.Helper()
	wc, err := client.NewWithWatch(s.cfg, client.Options{Scheme: s.c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wc.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns))
	if err != nil {
		cancel()
		t.Fatalf("watch pods: %v", err)
	}
	aw := &availabilityWatcher{a: e2echeck.NewAvailability(members), stop: cancel, done: make(chan struct{})}
	t.Cleanup(func() { aw.finish() })
	go func() {
		defer close(aw.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Labels["raft.kuberaft.io/cluster"] == "" {
				continue
			}
			aw.mu.Lock()
			aw.a.Observe(p.Name, ev.Type != watch.Deleted && p.DeletionTimestamp == nil && podReady(p))
			aw.mu.Unlock()
		}
	}()
	return aw
}

// finish stops the watch and returns what it saw.
func (aw *availabilityWatcher) finish() *e2echeck.Availability {
	aw.stop()
	<-aw.done
	aw.mu.Lock()
	defer aw.mu.Unlock()
	return aw.a
}

// testNodeDrainUnderLoad: `kubectl drain` of the node holding the leader
// while clients write and read. The eviction goes through the operator's
// PodDisruptionBudget, so at most one member is ever down; leadership moves
// to a member on another node; the writes go on. The member's volume is
// node-local (kind's local-path StorageClass), so its pod waits Pending
// until the node is uncordoned — documented behaviour, not a failure — and
// then rejoins as the same member. No acknowledged write is lost and
// porcupine finds the history linearizable.
func testNodeDrainUnderLoad(t *testing.T) {
	s := env
	s.schedulableNodes(t, 3)
	sc := s.newScenario(t, "drain")
	rc := s.applyCluster(t, sc.ns, "dr", 3, s.tagA)
	snap := rc.waitConverged(t, 3, 5*time.Minute)
	oldLeader := e2echeck.LeaderAt(snap)
	leaderPod := podOf(snap, oldLeader)
	placed := s.podNodes(t, sc.ns)
	node := placed[leaderPod]
	distinct := map[string]bool{}
	for _, n := range placed {
		distinct[n] = true
	}
	if len(distinct) != 3 {
		// Two members on the drained node would make the drain wait on the
		// PDB for a pod that cannot come back while the node is cordoned.
		t.Fatalf("members not on 3 distinct nodes (see scenario spread): %v", placed)
	}
	members := make([]string, 0, len(placed))
	for pod := range placed {
		members = append(members, pod)
	}
	// Converged is raft's view; the PDB and the availability check count
	// Kubernetes' Ready condition, which the kubelet sets only at a pod's
	// first passing probe, up to a probe period after the raft cluster
	// formed. Start the drain from every member Ready, as the check
	// assumes. (A CI run that drained ~2 s after the last member's start
	// counted that member and the drained one down at once.)
	eventually(t, time.Minute, 200*time.Millisecond, "every member pod Ready", func(ctx context.Context) (bool, string) {
		pods, err := s.pods(ctx, sc.ns)
		if err != nil {
			return false, err.Error()
		}
		var notReady []string
		for _, p := range pods {
			if !podReady(&p) {
				notReady = append(notReady, p.Name)
			}
		}
		return len(pods) == 3 && len(notReady) == 0, fmt.Sprintf("%d pods, not Ready: %v", len(pods), notReady)
	})
	endpoint := rc.clientEndpoint(t)

	smp := s.startSampler(t, sc.ns, rc.d, 200*time.Millisecond)
	avail := s.watchAvailability(t, sc.ns, members)
	load := startLoad(t, endpoint, "drain")
	eventually(t, time.Minute, 100*time.Millisecond, "a baseline of client load", func(context.Context) (bool, string) {
		n := load.ops.Load()
		return n >= 50, fmt.Sprintf("%d ops", n)
	})
	// Uncordon even if the scenario fails half-way: later scenarios need
	// every node.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.kubectlRun(ctx, "", "uncordon", node); err != nil {
			t.Errorf("uncordon %s: %v", node, err)
		}
	})

	from := time.Now()
	sc.figure("draining %s, which holds leader %s", node, leaderPod)
	s.mustKubectl(t, "", "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=10m")
	sc.figure("drain returned after %s", time.Since(from).Round(100*time.Millisecond))

	eventually(t, 3*time.Minute, 200*time.Millisecond, "a new leader on another node", s.leaderMovedOff(rc.d, sc.ns, leaderPod, oldLeader))
	before := load.ops.Load()
	eventually(t, 2*time.Minute, 200*time.Millisecond, "writes go on with the node drained", func(context.Context) (bool, string) {
		n := load.ops.Load()
		return n >= before+50, fmt.Sprintf("%d ops since the new leader", n-before)
	})
	// The evicted member's volume lives on the drained node: its pod may
	// only run there again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p, err := rc.pod(ctx, leaderPod)
	cancel()
	if err == nil && p.Spec.NodeName != "" && p.Spec.NodeName != node {
		t.Errorf("pod %s runs on %s; its local volume is on %s", leaderPod, p.Spec.NodeName, node)
	}

	s.mustKubectl(t, "", "uncordon", node)
	snap = rc.waitConverged(t, 3, 10*time.Minute)
	to := time.Now()
	if id := idOf(snap, leaderPod); id != oldLeader {
		t.Errorf("pod %s rejoined as member %x, want its old ID %x (same volume)", leaderPod, id, oldLeader)
	}
	sc.figure("drain→uncordon→converged took %s", to.Sub(from).Round(100*time.Millisecond))

	seen := avail.finish()
	maxDown, _ := seen.MaxDown()
	sc.figure("at most %d of 3 members unavailable at once", maxDown)
	if err := seen.CheckMaxDown(1); err != nil { // the PDB keeps 2 of 3 voters
		t.Errorf("PodDisruptionBudget: %v", err)
	}
	samples := smp.finish()
	rep := load.stopAndVerify(t, endpoint, "drain", filepath.Join(s.artifacts, "drain-porcupine.html"), from, to)
	sc.checkVoterCounts(samples, 3)
	sc.report(rep)
}
