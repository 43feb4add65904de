package controllers_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

func TestBootstrapCreatesOneClusterAndReportsStatus(t *testing.T) {
	e := newEnv(t, 3)
	loops := e.converge(20)
	t.Logf("converged in %d loops", loops)

	cm := &corev1.ConfigMap{}
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: testNS, Name: "kv-bootstrap"}, cm); err != nil {
		t.Fatal(err)
	}
	if got := cm.Data[specs.KeyInitialClusterState]; got != specs.StateExisting {
		t.Errorf("bootstrap state = %q, want existing once the cluster formed", got)
	}
	if got := cm.Data[specs.KeyInitialClusterToken]; got != "kv-rc-uid-1" {
		t.Errorf("token = %q, want it derived from the UID", got)
	}
	rc := e.get()
	st := rc.Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.FailureTolerance != 1 || st.CurrentVersion != "v1" || st.Leader == "" {
		t.Errorf("status = %+v", st)
	}
	if st.ObservedGeneration != rc.Generation {
		t.Errorf("observedGeneration = %d, want %d", st.ObservedGeneration, rc.Generation)
	}
	if st.Selector != "app.kubernetes.io/name=raftnode,raft.kuberaft.io/cluster=kv" {
		t.Errorf("selector = %q", st.Selector)
	}
	if len(st.Members) != 3 {
		t.Fatalf("members = %+v", st.Members)
	}
	leaders := 0
	for name, pod := range e.pods() {
		role := pod.Labels[specs.LabelRole]
		if role == specs.RoleLeader {
			leaders++
			if name != st.Leader {
				t.Errorf("pod %s labelled leader, status says %s", name, st.Leader)
			}
		} else if role != specs.RoleFollower {
			t.Errorf("pod %s role label = %q", name, role)
		}
	}
	if leaders != 1 {
		t.Errorf("%d pods labelled leader, want 1", leaders)
	}
	pdb := &policyv1.PodDisruptionBudget{}
	if err := e.c.Get(e.ctx, e.key, pdb); err != nil {
		t.Fatal(err)
	}
	if pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("PDB minAvailable = %v, want 2 (quorum of 3)", pdb.Spec.MinAvailable)
	}
	for _, name := range []string{"kv", "kv-peer", "kv-leader"} {
		if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: testNS, Name: name}, &corev1.Service{}); err != nil {
			t.Errorf("Service %s: %v", name, err)
		}
	}
	if !meta.IsStatusConditionFalse(st.Conditions, raftv1alpha1.ConditionDegraded) {
		t.Errorf("Degraded = %+v", rc.Condition(raftv1alpha1.ConditionDegraded))
	}
	if got := strings.Join(e.actions(), "\n"); !strings.Contains(got, "Bootstrapped") {
		t.Errorf("no Bootstrapped event in\n%s", got)
	}
}

func TestVolumesOfAnEarlierClusterOfTheSameNameAreNotReused(t *testing.T) {
	e := newEnv(t, 3)
	for _, pod := range []string{"kv-0", "kv-1"} {
		if err := e.world.AddForeignVolume(e.ctx, pod, false); err != nil {
			t.Fatal(err)
		}
	}
	e.converge(20)
	if got := strings.Join(e.actions(), "\n"); strings.Count(got, "DeletedForeignVolume") != 2 {
		t.Errorf("want both foreign volumes deleted:\n%s", got)
	}
	for _, o := range e.list(&corev1.PersistentVolumeClaimList{}) {
		if uid := o.GetLabels()[specs.LabelClusterUID]; uid != "rc-uid-1" {
			t.Errorf("PVC %s has cluster-uid %q", o.GetName(), uid)
		}
	}
}

// TestLateBootstrapMemberJoinsAsItself: two bootstrap members elect a
// leader before the third has started. The bootstrap state must stay "new"
// until the third runs, or it would start as "existing" with no data, be
// fenced as a voter that lost its data, and be replaced for nothing.
func TestLateBootstrapMemberJoinsAsItself(t *testing.T) {
	e := newEnv(t, 3)
	e.world.StartDelay["kv-2"] = 6
	e.converge(30)
	for _, l := range e.actions() {
		if strings.Contains(l, "Remove") || strings.Contains(l, "AddLearners") {
			t.Errorf("a late bootstrap member was replaced: %s", l)
		}
	}
	if id := memberID(t, e, "kv-2"); id != "3" {
		t.Errorf("kv-2 has member ID %s, want its bootstrap ID 3", id)
	}
}

// TestRetainedVolumesOfAnEarlierClusterAreNeitherMountedNorDeleted: an
// earlier RaftCluster of the same name was deleted with reclaimPolicy
// Retain. The new one must not delete those volumes (the old code did) nor
// start on them: it reports Degraded RetainedVolumes and creates nothing
// until a user deletes them.
func TestRetainedVolumesOfAnEarlierClusterAreNeitherMountedNorDeleted(t *testing.T) {
	e := newEnv(t, 3)
	for _, pod := range []string{"kv-0", "kv-1"} {
		if err := e.world.AddForeignVolume(e.ctx, pod, true); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		e.tick()
	}
	pvcs := e.list(&corev1.PersistentVolumeClaimList{})
	if len(pvcs) != 2 {
		t.Errorf("%d PVCs, want the 2 retained ones untouched", len(pvcs))
	}
	for _, o := range pvcs {
		if !o.GetDeletionTimestamp().IsZero() || o.GetLabels()[specs.LabelClusterUID] != "earlier-incarnation" {
			t.Errorf("retained PVC %s touched: %+v", o.GetName(), o)
		}
	}
	if n := len(e.list(&appsv1.StatefulSetList{})); n != 0 {
		t.Errorf("%d StatefulSets created next to retained volumes", n)
	}
	rc := e.get()
	if c := rc.Condition(raftv1alpha1.ConditionDegraded); c == nil || c.Status != metav1.ConditionTrue ||
		c.Reason != raftv1alpha1.ReasonRetainedVolumes || !strings.Contains(c.Message, "data-kv-0,data-kv-1") {
		t.Errorf("Degraded = %+v, want True/%s naming the volumes", c, raftv1alpha1.ReasonRetainedVolumes)
	}
	if rc.Status.ObservedGeneration != 0 {
		t.Errorf("observedGeneration = %d while refusing to start", rc.Status.ObservedGeneration)
	}
	for _, o := range pvcs {
		if err := e.c.Delete(e.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	e.converge(20)
}
