//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// testLeaderFailover: deleting the leader's pod elects a new leader; the
// pod comes back as the same member (same raft ID, same volume) with its
// data.
func testLeaderFailover(t *testing.T) {
	s := env
	sc := s.newScenario(t, "failover")
	rc := s.applyCluster(t, sc.ns, "fo", 3, s.tagA)
	snap := rc.waitConverged(t, 3, 5*time.Minute)
	oldLeader := snap[0].Leader
	leaderPod := podOf(snap, oldLeader)
	endpoint := rc.clientEndpoint(t)
	putGet(t, endpoint, "failover/before", "v1")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p, err := rc.pod(ctx, leaderPod)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	oldUID := p.UID
	begin := time.Now()
	s.mustKubectl(t, "", "-n", sc.ns, "delete", "pod", leaderPod, "--wait=false")

	eventually(t, 2*time.Minute, 200*time.Millisecond, "a new leader among the other members", s.leaderMovedOff(rc.d, sc.ns, leaderPod, oldLeader))
	sc.figure("new leader elected %s after deleting leader %s", time.Since(begin).Round(100*time.Millisecond), leaderPod)

	snap = rc.waitConverged(t, 3, 5*time.Minute)
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err = rc.pod(ctx, leaderPod)
	if err != nil {
		t.Fatal(err)
	}
	if p.UID == oldUID {
		t.Fatalf("pod %s was not recreated", leaderPod)
	}
	if id := idOf(snap, leaderPod); id != oldLeader {
		t.Errorf("pod %s rejoined as member %x, want its old ID %x (same volume)", leaderPod, id, oldLeader)
	}
	sc.figure("%s rejoined as member %x in %s", leaderPod, oldLeader, time.Since(begin).Round(100*time.Millisecond))

	// Its own copy has the data written before, and what is written after.
	putGet(t, endpoint, "failover/after", "v2")
	eventually(t, time.Minute, 500*time.Millisecond, leaderPod+" holds the data", func(ctx context.Context) (bool, string) {
		before, err1 := localValue(ctx, rc.podEndpoint(ctx, p), "failover/before")
		after, err2 := localValue(ctx, rc.podEndpoint(ctx, p), "failover/after")
		return before == "v1" && after == "v2", fmt.Sprintf("before=%q (%v) after=%q (%v)", before, err1, after, err2)
	})
}

// testReplaceMember: deleting a member's PVC and pod makes the operator
// replace it under a new raft ID on a fresh volume; the old ID leaves the
// configuration and the new member receives the data from the cluster.
func testReplaceMember(t *testing.T) {
	s := env
	sc := s.newScenario(t, "replace")
	rc := s.applyCluster(t, sc.ns, "rp", 3, s.tagA)
	snap := rc.waitConverged(t, 3, 5*time.Minute)
	var victim e2echeck.Sample
	for _, smp := range snap {
		if smp.ID != smp.Leader {
			victim = smp // a follower; the last one in name order
		}
	}
	endpoint := rc.clientEndpoint(t)
	putGet(t, endpoint, "replace/before", "v1")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := rc.pod(ctx, victim.Pod)
	if err != nil {
		t.Fatal(err)
	}
	claim := claimOf(p)
	if claim == "" {
		t.Fatalf("pod %s mounts no PVC", victim.Pod)
	}
	var oldPVC = pvcUID(t, rc, claim)
	begin := time.Now()
	s.mustKubectl(t, "", "-n", sc.ns, "delete", "pvc", claim, "--wait=false")
	s.mustKubectl(t, "", "-n", sc.ns, "delete", "pod", victim.Pod, "--wait=false")

	var newID uint64
	eventually(t, 6*time.Minute, time.Second, "the member to be replaced under a new ID", func(ctx context.Context) (bool, string) {
		ok, msg, snap := rc.converged(ctx, 3)
		if !ok {
			return false, msg
		}
		newID = idOf(snap, victim.Pod)
		if newID == 0 || newID == victim.ID {
			return false, fmt.Sprintf("%s still has ID %x", victim.Pod, newID)
		}
		if slices.Contains(snap[0].Voters, victim.ID) {
			return false, fmt.Sprintf("old ID %x still a voter: %s", victim.ID, snap[0].Config())
		}
		return true, ""
	})
	sc.figure("%s replaced: member %x -> %x in %s", victim.Pod, victim.ID, newID, time.Since(begin).Round(100*time.Millisecond))
	if uid := pvcUID(t, rc, claim); uid == oldPVC {
		t.Errorf("PVC %s was not recreated", claim)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	p, err = rc.pod(ctx2, victim.Pod)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, 500*time.Millisecond, "the new member to hold the data", func(ctx context.Context) (bool, string) {
		v, err := localValue(ctx, rc.podEndpoint(ctx, p), "replace/before")
		return v == "v1", fmt.Sprintf("replace/before = %q (%v)", v, err)
	})
	putGet(t, endpoint, "replace/after", "v2")
}

func pvcUID(t *testing.T, rc *raftCluster, name string) string {
	t.Helper()
	var uid string
	eventually(t, 2*time.Minute, time.Second, "PVC "+name, func(ctx context.Context) (bool, string) {
		out, err := rc.s.kubectlRun(ctx, "", "-n", rc.ns, "get", "pvc", name, "-o", "jsonpath={.metadata.uid}")
		uid = out
		return err == nil && out != "", fmt.Sprint(err)
	})
	return uid
}
