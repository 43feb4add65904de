//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// membershipReasons are the operator's event reasons for membership steps.
var membershipReasons = []string{"AddLearners", "Promote", "MoveLeader", "Remove"}

// stepEvents returns the operator's membership-step events on the
// RaftCluster, oldest first, as "Reason: note" (×n when the events library
// merged repeats into a series).
func (rc *raftCluster) stepEvents(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var list eventsv1.EventList
	if err := rc.s.c.List(ctx, &list, client.InNamespace(rc.ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	evs := list.Items
	slices.SortStableFunc(evs, func(a, b eventsv1.Event) int { return a.EventTime.Time.Compare(b.EventTime.Time) })
	var out []string
	for _, e := range evs {
		if e.Regarding.Kind != "RaftCluster" || !slices.Contains(membershipReasons, e.Reason) {
			continue
		}
		line := e.Reason + ": " + e.Note
		if e.Series != nil && e.Series.Count > 1 {
			line += fmt.Sprintf(" (×%d)", e.Series.Count)
		}
		out = append(out, line)
	}
	return out
}

// checkVoterCounts fails when any status sample shows a voting configuration
// of a size other than allowed (e.g. 4 during 3→5), and records the
// configurations seen. Samples of a restarted node still replaying the
// bootstrap entries of its 3-member cluster are left out (AfterBootstrap).
func (sc *scenario) checkVoterCounts(all []e2echeck.Sample, allowed ...int) {
	sc.t.Helper()
	samples := e2echeck.AfterBootstrap(all, 3)
	if len(samples) == 0 {
		sc.t.Fatalf("no node status sample was recorded")
	}
	if skipped := len(all) - len(samples); skipped > 0 {
		sc.t.Logf("%d samples with applied index < 3 left out (a restart replaying the bootstrap entries, or a new member not yet caught up)", skipped)
	}
	if bad := e2echeck.ForbiddenVoterCounts(samples, allowed...); len(bad) > 0 {
		first := bad[0]
		sc.t.Errorf("%d of %d status samples show a voter count outside %v; first: %s at %s saw %s",
			len(bad), len(samples), allowed, first.Pod, first.At.Format(time.RFC3339Nano), first.Config())
	}
	sc.figure("%d node status samples, voter counts only %v; leader's configurations %s",
		len(samples), allowed, strings.Join(e2echeck.LeaderConfigs(samples), " → "))
}

// waitPVCs waits until the namespace holds exactly the PVCs of the current
// pods, want of them: removed members' volumes are gone.
func (rc *raftCluster) waitPVCs(t *testing.T, want int) []string {
	t.Helper()
	var names []string
	eventually(t, 3*time.Minute, time.Second, fmt.Sprintf("%d PVCs", want), func(ctx context.Context) (bool, string) {
		var err error
		if names, err = rc.pvcNames(ctx); err != nil {
			return false, err.Error()
		}
		pods, err := rc.s.pods(ctx, rc.ns)
		if err != nil {
			return false, err.Error()
		}
		var claims []string
		for i := range pods {
			claims = append(claims, claimOf(&pods[i]))
		}
		slices.Sort(claims)
		return slices.Equal(names, claims) && len(names) == want, fmt.Sprintf("PVCs %v, pods' claims %v", names, claims)
	})
	return names
}

// report records a workload's figures in the summary.
func (sc *scenario) report(rep loadReport) {
	sc.figure("%d client ops (%d failed/unknown), porcupine %s on %d ops in %s", rep.ops, rep.failures,
		rep.linearizability.Result, rep.linearizability.Ops, rep.linearizability.Elapsed.Round(time.Millisecond))
	sc.figure("%d acknowledged writes, %d lost", rep.acked, rep.lost)
	sc.figure("longest write gap %s", rep.longestGap.Round(time.Millisecond))
}

// testScaleUnderLoad: kubectl scale 3→5→3 while clients write and read;
// every node's status, sampled throughout, never shows 4 voters; the
// removed members' PVCs are gone; no acknowledged write is lost and the
// history is linearizable.
func testScaleUnderLoad(t *testing.T) {
	s := env
	sc := s.newScenario(t, "scale")
	rc := s.applyCluster(t, sc.ns, "sc", 3, s.tagA)
	rc.waitConverged(t, 3, 5*time.Minute)
	endpoint := rc.clientEndpoint(t)

	smp := s.startSampler(t, sc.ns, rc.d, 100*time.Millisecond)
	load := startLoad(t, endpoint, "scale")
	from := time.Now()

	rc.scale(t, 5)
	rc.waitConverged(t, 5, 6*time.Minute)
	sc.figure("3→5 converged in %s", time.Since(from).Round(100*time.Millisecond))
	rc.waitPVCs(t, 5)

	mid := time.Now()
	rc.scale(t, 3)
	rc.waitConverged(t, 3, 6*time.Minute)
	sc.figure("5→3 converged in %s", time.Since(mid).Round(100*time.Millisecond))
	to := time.Now()

	samples := smp.finish()
	rep := load.stopAndVerify(t, endpoint, "scale", filepath.Join(s.artifacts, "scale-porcupine.html"), from, to)
	sc.checkVoterCounts(samples, 3, 5)
	steps := rc.stepEvents(t)
	sc.figure("operator steps: %s", strings.Join(steps, "; "))
	for _, want := range []string{"AddLearners", "Promote", "Remove"} {
		if !slices.ContainsFunc(steps, func(s string) bool { return strings.HasPrefix(s, want+":") }) {
			t.Errorf("no %s event from the operator; steps seen: %v", want, steps)
		}
	}
	names := rc.waitPVCs(t, 3)
	sc.figure("PVCs after scale-in: %s", strings.Join(names, ","))
	sc.report(rep)
}

// testOperatorRestartMidScale: the operator pod is killed while a 3→5 scale
// is in flight; the new operator resumes from the recorded operation and
// the observed membership, and the cluster converges without ever passing
// through 4 voters.
func testOperatorRestartMidScale(t *testing.T) {
	s := env
	sc := s.newScenario(t, "operator-restart")
	rc := s.applyCluster(t, sc.ns, "op", 3, s.tagA)
	rc.waitConverged(t, 3, 5*time.Minute)
	smp := s.startSampler(t, sc.ns, rc.d, 100*time.Millisecond)
	begin := time.Now()
	rc.scale(t, 5)

	var step string
	eventually(t, 2*time.Minute, 100*time.Millisecond, "the scale-out to be in flight", func(ctx context.Context) (bool, string) {
		obj, err := rc.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		if op := obj.Status.Operation; op != nil {
			step = fmt.Sprintf("%s/%s", op.Type, op.Step)
			return true, ""
		}
		return false, fmt.Sprintf("no operation yet; %d members", len(obj.Status.Members))
	})
	s.mustKubectl(t, "", "-n", s.opNS, "delete", "pod", "-l", "app.kubernetes.io/component=operator,app.kubernetes.io/instance="+s.release,
		"--grace-period=0", "--force")
	sc.figure("operator killed during %s", step)
	s.waitDeploymentAvailable(t, s.opNS, s.release, 3*time.Minute)

	rc.waitConverged(t, 5, 6*time.Minute)
	sc.figure("converged on 5 voters %s after the scale began", time.Since(begin).Round(100*time.Millisecond))
	sc.checkVoterCounts(smp.finish(), 3, 5)
	rc.waitPVCs(t, 5)
}
