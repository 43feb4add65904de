package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
)

func TestPausedMakesNoChange(t *testing.T) {
	e := newConverged(t, 3)
	e.update(func(s *v1alpha1.RaftClusterSpec) {
		s.Paused = true
		s.Replicas = ptr.To[int32](5)
		s.Version = "v2"
	})
	for range 10 {
		e.tick()
	}
	if len(e.world.Calls) != 0 || len(e.world.Members()) != 3 {
		t.Errorf("paused cluster changed: calls %v", e.world.Calls)
	}
	for name, pod := range e.pods() {
		if pod.Spec.Containers[0].Image != "kuberaft.local/raftnode:v1" {
			t.Errorf("paused cluster restarted %s", name)
		}
	}
	if c := e.get().Condition(v1alpha1.ConditionProgressing); c == nil || c.Reason != v1alpha1.ReasonPaused || c.Status != metav1.ConditionFalse {
		t.Errorf("Progressing = %+v, want False/Paused", c)
	}
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Paused = false })
	e.converge(40)
}

func TestNoChangeWithoutQuorumOfHealthyVoters(t *testing.T) {
	e := newConverged(t, 5)
	e.world.SetLeader("kv-0")
	// kv-1 and kv-2 down: removing kv-3 and kv-4 would leave kv-0..kv-2
	// with one healthy voter of three, so the scale-in must wait.
	e.world.Unreachable["kv-1"] = true
	e.world.Unreachable["kv-2"] = true
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Replicas = ptr.To[int32](3) })
	for range 6 {
		e.tick()
	}
	if len(e.world.Calls) != 0 {
		t.Fatalf("changed membership without a healthy quorum after the change: %v", e.world.Calls)
	}
	if c := e.get().Condition(v1alpha1.ConditionProgressing); c == nil || c.Reason != v1alpha1.ReasonWaitingPreflight {
		t.Errorf("Progressing = %+v, want %s", c, v1alpha1.ReasonWaitingPreflight)
	}
	delete(e.world.Unreachable, "kv-1")
	delete(e.world.Unreachable, "kv-2")
	e.converge(40)
}

func TestForeignStatefulSetIsTerminal(t *testing.T) {
	e := newEnv(t, 3)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "kv", Namespace: testNS},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1)}}
	if err := e.c.Create(e.ctx, sts); err != nil {
		t.Fatal(err)
	}
	_, err := e.reconcile()
	if !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("err = %v, want a terminal error", err)
	}
	c := e.get().Condition(v1alpha1.ConditionDegraded)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonNameConflict {
		t.Errorf("Degraded = %+v, want True/NameConflict", c)
	}
}

// TestEveryDerivedNameConflictIsReported: any object of a name the cluster
// derives (cluster "kv-peer"'s client Service is cluster "kv"'s peer
// Service) that the cluster does not control is left alone and reported as
// Degraded NameConflict, not adopted and overwritten.
func TestEveryDerivedNameConflictIsReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  client.Object
	}{
		{"client Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kv"}}},
		{"peer Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kv-peer"}}},
		{"leader Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kv-leader"}}},
		{"bootstrap ConfigMap", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kv-bootstrap"}, Data: map[string]string{"k": "v"}}},
		{"PodDisruptionBudget", &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "kv"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 3)
			tc.obj.SetNamespace(testNS)
			tc.obj.SetLabels(map[string]string{"owner": "someone-else"})
			if err := e.c.Create(e.ctx, tc.obj); err != nil {
				t.Fatal(err)
			}
			_, err := e.reconcile()
			if !errors.Is(err, reconcile.TerminalError(nil)) {
				t.Fatalf("err = %v, want a terminal error", err)
			}
			c := e.get().Condition(v1alpha1.ConditionDegraded)
			if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonNameConflict || !strings.Contains(c.Message, tc.obj.GetName()) {
				t.Errorf("Degraded = %+v, want True/NameConflict naming %s", c, tc.obj.GetName())
			}
			if err := e.c.Get(e.ctx, client.ObjectKeyFromObject(tc.obj), tc.obj); err != nil {
				t.Fatal(err)
			}
			if len(tc.obj.GetOwnerReferences()) != 0 || tc.obj.GetLabels()["owner"] != "someone-else" {
				t.Errorf("the conflicting object was taken over: %+v", tc.obj)
			}
		})
	}
}

func TestWriteConflictRequeuesWithoutAdvancingObservedGeneration(t *testing.T) {
	armed, conflicts := false, 0
	e := newEnvWith(t, 3, interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		if _, ok := obj.(*appsv1.StatefulSet); ok && armed && conflicts == 0 {
			conflicts++
			return apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, obj.GetName(), errors.New("modified"))
		}
		return c.Update(ctx, obj, opts...)
	}})
	e.converge(20)
	armed = true
	// A new version changes the StatefulSet's template in the first loop.
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Version = "v2" })
	res, err := e.reconcile()
	if conflicts != 1 || err != nil || res.RequeueAfter == 0 {
		t.Fatalf("reconcile = %+v, %v after %d conflicts; want a quiet requeue", res, err, conflicts)
	}
	if rc := e.get(); rc.Status.ObservedGeneration == rc.Generation {
		t.Error("observedGeneration advanced on a loop cut short by a conflict")
	}
	e.converge(40)
	if rc := e.get(); rc.Status.ObservedGeneration != rc.Generation {
		t.Errorf("observedGeneration = %d, want %d", rc.Status.ObservedGeneration, rc.Generation)
	}
}

// TestNodeThatOnlyBelievesItLeadsIsIgnored: a node claims leadership of a
// configuration of its own in a higher term; no other voter names it. The
// operator must keep working through the real leader.
func TestNodeThatOnlyBelievesItLeadsIsIgnored(t *testing.T) {
	e := newConverged(t, 3)
	e.world.SetLeader("kv-0")
	e.world.Rogue["kv-2"] = true
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Replicas = ptr.To[int32](5) })
	for range 12 {
		e.tick()
	}
	if got := e.get().Status.Leader; got != "kv-0" {
		t.Errorf("status.leader = %q, want kv-0", got)
	}
	if n := len(e.world.Members()); n != 5 {
		t.Errorf("%d members, want 5 (calls %v)", n, e.world.Calls)
	}
	for _, l := range e.actions() {
		if strings.Contains(l, "Deferred") || strings.Contains(l, "Failed") {
			t.Errorf("acted through the rogue node: %s", l)
		}
	}
}

// TestUpgradePreflightWaitsWhileAFollowerIsCutOff: kv-1 answers the
// operator but the leader does not hear from it (a one-sided partition).
// Restarting kv-2 for the upgrade would leave the leader alone: the
// preflight must count kv-1 as unhealthy (the leader's view) and wait.
func TestUpgradePreflightWaitsWhileAFollowerIsCutOff(t *testing.T) {
	e := newConverged(t, 3)
	if !e.world.SetLeader("kv-0") {
		t.Fatal("cannot make kv-0 the leader")
	}
	e.world.CutOff["kv-1"] = true
	before := e.pods()
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Version = "v2" })
	for range 8 {
		e.tick()
	}
	after := e.pods()
	for _, name := range []string{"kv-0", "kv-2"} {
		if after[name] == nil || after[name].UID != before[name].UID {
			t.Errorf("%s was restarted while kv-1 was cut off from the leader:\n%s", name, strings.Join(e.actions(), "\n"))
		}
	}
	rc := e.get()
	for _, m := range rc.Status.Members {
		if m.Name == "kv-1" && m.Healthy {
			t.Errorf("kv-1 reported healthy while the leader does not hear from it: %+v", m)
		}
	}
	if c := rc.Condition(v1alpha1.ConditionDegraded); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Degraded = %+v, want True", c)
	}
	delete(e.world.CutOff, "kv-1")
	e.converge(40)
}

// TestNoLeaderStatusReportsTheOutage: with two of three members down no
// leader is known; status must list the members the answering node
// reports, with only it healthy, Available=False and Degraded=True
// QuorumLost, not "every member is healthy".
func TestNoLeaderStatusReportsTheOutage(t *testing.T) {
	e := newConverged(t, 3)
	if !e.world.SetLeader("kv-0") {
		t.Fatal("cannot make kv-0 the leader")
	}
	e.world.Stopped["kv-1"] = true
	e.world.Stopped["kv-2"] = true
	for range 3 {
		e.tick()
	}
	st := e.get().Status
	healthy := map[string]bool{}
	for _, m := range st.Members {
		healthy[m.Name] = m.Healthy
	}
	if len(st.Members) != 3 || !healthy["kv-0"] || healthy["kv-1"] || healthy["kv-2"] || st.ReadyReplicas != 1 || st.Leader != "" {
		t.Errorf("status without a leader: members %+v, readyReplicas %d, leader %q", st.Members, st.ReadyReplicas, st.Leader)
	}
	rc := e.get()
	if c := rc.Condition(v1alpha1.ConditionAvailable); c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonQuorumLost {
		t.Errorf("Available = %+v, want False/%s", c, v1alpha1.ReasonQuorumLost)
	}
	if c := rc.Condition(v1alpha1.ConditionDegraded); c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonQuorumLost {
		t.Errorf("Degraded = %+v, want True/%s", c, v1alpha1.ReasonQuorumLost)
	}
	delete(e.world.Stopped, "kv-1")
	delete(e.world.Stopped, "kv-2")
	e.converge(40)
}

// TestWaitsBackOff: a cluster that keeps waiting (here: paused) is
// re-checked after 2, 4, 8, then every 15 s, not every 2 s; once it acts
// the backoff starts over.
func TestWaitsBackOff(t *testing.T) {
	e := newConverged(t, 3)
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Paused = true; s.Replicas = ptr.To[int32](5) })
	var got []string
	for range 5 {
		res, err := e.reconcile()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.RequeueAfter.String())
	}
	if want := "[2s 4s 8s 15s 15s]"; fmt.Sprint(got) != want {
		t.Errorf("requeues while paused = %v, want %s", got, want)
	}
	e.update(func(s *v1alpha1.RaftClusterSpec) { s.Paused = false })
	if res, err := e.reconcile(); err != nil || res.RequeueAfter != controllers.ActedRequeue {
		t.Fatalf("unpaused loop = %v, %v; want it to act", res, err)
	}
	e.world.StartDelay["kv-3"], e.world.StartDelay["kv-4"] = 100, 100
	if err := e.world.Sync(e.ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := e.reconcile(); err != nil || res.RequeueAfter != controllers.WaitingRequeue {
		t.Errorf("first wait after acting = %v, %v; want %v", res, err, controllers.WaitingRequeue)
	}
}
