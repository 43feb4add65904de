//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// quorumLossKeys is how many writes are acknowledged before the loss.
const quorumLossKeys = 200

// testQuorumLossRecovery: a 3-member cluster loses two members' pods and
// volumes for good. Status reports quorum loss; Preview names the survivor
// and what is at risk and changes nothing; Apply of the previewed plan
// brings the cluster back to 3 healthy voters around the survivor's data,
// and every acknowledged write that was on the survivor is still there.
func testQuorumLossRecovery(t *testing.T) {
	s := env
	sc := s.newScenario(t, "quorum-loss-recovery")
	rc := s.applyCluster(t, sc.ns, "ql", 3, s.tagA)
	snap := rc.waitConverged(t, 3, 5*time.Minute)
	survivor, lost := "ql-0", []string{"ql-1", "ql-2"}
	survivorID := idOf(snap, survivor)
	acked := writeAcked(t, rc.clientEndpoint(t), "ql/k", quorumLossKeys)
	onSurvivor := survivorKeys(t, rc, survivor, acked)
	sc.figure("%d writes acknowledged, %d of them on %s before the loss", len(acked), len(onSurvivor), survivor)

	begin := time.Now()
	for _, name := range lost {
		s.mustKubectl(t, "", "-n", sc.ns, "delete", "pvc", "data-"+name, "--wait=false")
	}
	s.mustKubectl(t, "", append([]string{"-n", sc.ns, "delete", "pod", "--wait=false"}, lost...)...)
	eventually(t, 3*time.Minute, time.Second, "status to report quorum loss", func(ctx context.Context) (bool, string) {
		obj, err := rc.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		deg := meta.FindStatusCondition(obj.Status.Conditions, raftv1.ConditionDegraded)
		lostReported := obj.Status.Recovery != nil && obj.Status.Recovery.QuorumLost
		return lostReported && deg != nil && deg.Reason == raftv1.ReasonQuorumLost, fmt.Sprintf("recovery %+v, Degraded %v", obj.Status.Recovery, deg)
	})
	sc.figure("quorum loss reported %s after deleting %v", time.Since(begin).Round(100*time.Millisecond), lost)

	plan := rc.preview(t)
	sc.figure("Preview: plan %s, survivor %s, discarded %v, ~%d entries at risk", plan.ID, plan.Survivor, plan.Discarded, plan.AtRiskEntries)
	if plan.Survivor != survivor || !slices.Equal(plan.Discarded, lost) {
		t.Fatalf("plan %+v, want survivor %s and %v discarded", plan, survivor, lost)
	}

	begin = time.Now()
	rc.applyRecovery(t, plan.ID)
	snap = rc.waitConverged(t, 3, 8*time.Minute)
	sc.figure("Apply: 3 healthy voters again in %s", time.Since(begin).Round(100*time.Millisecond))
	rc.checkRecovered(t, snap, survivor, survivorID)
	missing := missingKeys(t, rc.clientEndpoint(t), onSurvivor)
	if len(missing) > 0 {
		t.Errorf("%d writes that were on the survivor are lost: %v", len(missing), missing[:min(len(missing), 10)])
	}
	sc.figure("%d of %d writes on the survivor present after recovery", len(onSurvivor)-len(missing), len(onSurvivor))
	putGet(t, rc.clientEndpoint(t), "ql/after", "v")
}

// writeAcked writes n keys one by one and returns those acknowledged.
func writeAcked(t *testing.T, endpoint, prefix string, n int) map[string]string {
	t.Helper()
	cli, err := newEtcdClient(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	acked := map[string]string{}
	for i := range n {
		key, val := fmt.Sprintf("%s%04d", prefix, i), fmt.Sprintf("v%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, key, val)
		cancel()
		if err == nil {
			acked[key] = val
		}
	}
	if len(acked) < n*9/10 {
		t.Fatalf("only %d of %d writes acknowledged on a healthy cluster", len(acked), n)
	}
	return acked
}

// survivorKeys waits until the survivor applied the last acknowledged
// write, then returns the acknowledged writes it holds (its own copy,
// a serializable read).
func survivorKeys(t *testing.T, rc *raftCluster, pod string, acked map[string]string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := rc.pod(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := rc.podEndpoint(ctx, p)
	last := slices.Max(slices.Collect(maps.Keys(acked)))
	eventually(t, time.Minute, 500*time.Millisecond, pod+" to apply the last write", func(ctx context.Context) (bool, string) {
		v, err := localValue(ctx, endpoint, last)
		return v == acked[last], fmt.Sprintf("%s = %q (%v)", last, v, err)
	})
	out := map[string]string{}
	for k, want := range acked {
		if v, err := localValue(ctx, endpoint, k); err == nil && v == want {
			out[k] = want
		}
	}
	return out
}

// missingKeys reads every key through endpoint (linearizable) and returns
// those that do not hold their value.
func missingKeys(t *testing.T, endpoint string, want map[string]string) []string {
	t.Helper()
	cli, err := newEtcdClient(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	var missing []string
	for k, v := range want {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := cli.Get(ctx, k)
		cancel()
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != v {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	return missing
}

// objectsFingerprint names the StatefulSet's generation and every PVC with
// its UID: Preview must change none of them.
func (rc *raftCluster) objectsFingerprint(ctx context.Context) (string, error) {
	out, err := rc.s.kubectlRun(ctx, "", "-n", rc.ns, "get", "statefulset", rc.name, "-o", "jsonpath={.metadata.generation}")
	if err != nil {
		return "", err
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := rc.s.c.List(ctx, &pvcs, client.InNamespace(rc.ns)); err != nil {
		return "", err
	}
	parts := []string{"sts generation " + out}
	for _, p := range pvcs.Items {
		parts = append(parts, fmt.Sprintf("%s=%s deleting=%v", p.Name, p.UID, !p.DeletionTimestamp.IsZero()))
	}
	slices.Sort(parts[1:])
	return strings.Join(parts, ", "), nil
}

// preview waits for the recreated pods' fresh volumes to settle, sets
// spec.recovery.mode Preview and returns the plan; the StatefulSet and
// the PVCs must be the same before and after.
func (rc *raftCluster) preview(t *testing.T) *raftv1.RecoveryPlanStatus {
	t.Helper()
	var before string
	eventually(t, 2*time.Minute, time.Second, "3 PVCs, none being deleted", func(ctx context.Context) (bool, string) {
		fp, err := rc.objectsFingerprint(ctx)
		before = fp
		return err == nil && strings.Count(fp, "deleting=false") == 3 && !strings.Contains(fp, "deleting=true"), fmt.Sprint(fp, err)
	})
	rc.s.mustKubectl(t, "", "-n", rc.ns, "patch", "raftcluster", rc.name, "--type=merge", "-p", `{"spec":{"recovery":{"mode":"Preview"}}}`)
	var plan *raftv1.RecoveryPlanStatus
	eventually(t, 2*time.Minute, time.Second, "the Preview plan", func(ctx context.Context) (bool, string) {
		obj, err := rc.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		if r := obj.Status.Recovery; r != nil {
			plan = r.Plan
		}
		return plan != nil, fmt.Sprintf("%+v", obj.Status.Recovery)
	})
	// A few loops of both reconcilers (the recovery one re-observes every
	// 30 s) run before the objects are compared again.
	time.Sleep(35 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	after, err := rc.objectsFingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("Preview changed objects:\nbefore %s\nafter  %s", before, after)
	}
	return plan
}

// applyRecovery sets mode Apply with planID and waits until the operator
// recorded it. The plan ID moves when status's figures do (they are
// written once a minute), so a refused ID is re-read from a fresh Preview
// once, as a user would.
func (rc *raftCluster) applyRecovery(t *testing.T, planID string) {
	t.Helper()
	for attempt := 0; attempt < 3; attempt++ {
		rc.s.mustKubectl(t, "", "-n", rc.ns, "patch", "raftcluster", rc.name, "--type=merge", "-p",
			fmt.Sprintf(`{"spec":{"recovery":{"mode":"Apply","planID":%q}}}`, planID))
		var refused *raftv1.RecoveryPlanStatus
		err := poll(time.Minute, time.Second, func(ctx context.Context) (bool, string) {
			obj, err := rc.get(ctx)
			if err != nil {
				return false, err.Error()
			}
			if r := obj.Status.Recovery; r != nil && r.Apply != nil && r.Apply.PlanID == planID {
				return true, ""
			}
			c := meta.FindStatusCondition(obj.Status.Conditions, raftv1.ConditionRecovering)
			if c != nil && c.Reason == raftv1.ReasonRecoveryPlanMismatch && obj.Status.Recovery != nil && obj.Status.Recovery.Plan != nil &&
				obj.Status.Recovery.Plan.ID != planID {
				refused = obj.Status.Recovery.Plan
				return true, ""
			}
			return false, fmt.Sprintf("Recovering %v", c)
		})
		if err != nil {
			t.Fatalf("Apply of plan %s: %v", planID, err)
		}
		if refused == nil {
			return
		}
		t.Logf("plan %s refused; the current plan is %+v", planID, refused)
		planID = refused.ID
	}
	t.Fatal("Apply refused three times")
}

// checkRecovered checks the outcome: Recovering False/Recovered, the
// survivor kept its member ID, the other two are new members.
func (rc *raftCluster) checkRecovered(t *testing.T, snap []e2echeck.Sample, survivor string, survivorID uint64) {
	t.Helper()
	eventually(t, time.Minute, time.Second, "Recovering False with reason "+raftv1.ReasonRecovered, func(ctx context.Context) (bool, string) {
		obj, err := rc.get(ctx)
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, raftv1.ConditionRecovering)
		return c != nil && c.Reason == raftv1.ReasonRecovered, fmt.Sprintf("Recovering %+v", c)
	})
	if id := idOf(snap, survivor); id != survivorID {
		t.Errorf("%s is member %x, want its own ID %x", survivor, id, survivorID)
	}
}
