package recovery

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// TestPreviewWritesThePlanAndChangesNothing: 3 voters, two lost with
// their PVCs; Preview names the survivor and what is at risk in status,
// and leaves every other object as it was.
func TestPreviewWritesThePlanAndChangesNothing(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := raftv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "u1"}}
	rc.Spec.Recovery = &raftv1alpha1.RecoverySpec{Mode: raftv1alpha1.RecoveryPreview}
	rc.Status.Members = []raftv1alpha1.MemberStatus{
		member("c-0", raftv1alpha1.RoleFollower, true, 95),
		member("c-1", raftv1alpha1.RoleLeader, false, 0),
		member("c-2", raftv1alpha1.RoleFollower, false, 0),
	}
	rc.Status.Recovery = &raftv1alpha1.RecoveryStatus{LastObservedCommit: 100}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: specs.PVCName("c-0"),
		Labels: map[string]string{specs.LabelCluster: "c", specs.LabelClusterUID: "u1"}}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rc, pvc).WithStatusSubresource(rc).Build()
	r := &Reconciler{Client: c}
	key := types.NamespacedName{Namespace: "ns", Name: "c"}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	var got raftv1alpha1.RaftCluster
	if err := c.Get(context.Background(), key, &got); err != nil {
		t.Fatal(err)
	}
	st := got.Status.Recovery
	if st == nil || !st.QuorumLost || st.Plan == nil || st.Plan.Survivor != "c-0" || st.Plan.AtRiskEntries != 5 || len(st.Plan.ID) == 0 {
		t.Fatalf("status.recovery %+v", st)
	}
	if len(got.Status.Members) != 3 {
		t.Fatalf("the other status fields were touched: %+v", got.Status.Members)
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := c.List(context.Background(), &pvcs); err != nil || len(pvcs.Items) != 1 {
		t.Fatalf("Preview changed the volumes: %v %v", pvcs.Items, err)
	}
}

// TestRestoreRequestIsNotWarnedAbout: restore is carried out (the
// RaftCluster reconciler's ensureRestore, condition Restored); the old
// "not implemented" warning must not tell a user their restore is ignored.
func TestRestoreRequestIsNotWarnedAbout(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := raftv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	rc.Spec.Bootstrap = &raftv1alpha1.BootstrapSpec{Restore: &raftv1alpha1.RestoreSource{Backup: "b1"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rc).WithStatusSubresource(rc).Build()
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: c, Recorder: rec}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-rec.Events:
		if strings.Contains(e, "RestoreNotImplemented") {
			t.Fatalf("event %q for a restore that is carried out", e)
		}
	default:
	}
}

// TestApplyRecordIsKept: status.recovery.apply belongs to the RaftCluster
// reconciler; this one's patch of status.recovery must not drop it.
func TestApplyRecordIsKept(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := raftv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", UID: "u1"}}
	rc.Status.Members = []raftv1alpha1.MemberStatus{member("c-0", raftv1alpha1.RoleLeader, true, 10)}
	rc.Status.Recovery = &raftv1alpha1.RecoveryStatus{Apply: &raftv1alpha1.RecoveryApplyStatus{PlanID: "p1", Survivor: "c-0", Step: "Done"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rc).WithStatusSubresource(rc).Build()
	r := &Reconciler{Client: c}
	key := types.NamespacedName{Namespace: "ns", Name: "c"}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	var got raftv1alpha1.RaftCluster
	if err := c.Get(context.Background(), key, &got); err != nil {
		t.Fatal(err)
	}
	if st := got.Status.Recovery; st == nil || st.Apply == nil || st.Apply.PlanID != "p1" || !st.QuorumLost {
		t.Fatalf("status.recovery %+v", st)
	}
}
