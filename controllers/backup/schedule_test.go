package backup

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

func scheduleFixture(t *testing.T, spec *raftv1alpha1.ScheduledBackupSpec) (*ScheduleReconciler, client.Client, *time.Time) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := raftv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c1", CreationTimestamp: metav1.NewTime(start)}}
	rc.Spec.Backup = spec
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rc).
		WithStatusSubresource(&raftv1alpha1.RaftBackup{}).Build()
	now := start
	return &ScheduleReconciler{Client: c, Now: func() time.Time { return now }}, c, &now
}

func every(expr string, keep int32) *raftv1alpha1.ScheduledBackupSpec {
	return &raftv1alpha1.ScheduledBackupSpec{Schedule: expr, Retention: raftv1alpha1.BackupRetention{KeepLast: keep},
		Destination: raftv1alpha1.BackupDestination{S3: &raftv1alpha1.S3Destination{Endpoint: "http://s3:9000", Bucket: "bkt", CredentialsSecret: "creds"}}}
}

// completeAll plays the backup reconciler: every backup finishes.
func completeAll(t *testing.T, c client.Client) []string {
	t.Helper()
	var list raftv1alpha1.RaftBackupList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range list.Items {
		b := &list.Items[i]
		names = append(names, b.Name)
		if b.Status.Phase == "" {
			b.Status.Phase = raftv1alpha1.BackupCompleted
			if err := c.Status().Update(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(names)
	return names
}

// TestScheduleEveryMinuteKeepsTwo: five minutes of a per-minute schedule
// with keepLast 2 leave exactly the two newest backups.
func TestScheduleEveryMinuteKeepsTwo(t *testing.T) {
	r, c, now := scheduleFixture(t, every("*/1 * * * *", 2))
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c1"}}
	for m := 1; m <= 5; m++ {
		*now = start.Add(time.Duration(m)*time.Minute + 5*time.Second)
		res, err := r.Reconcile(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if want := 55 * time.Second; res.RequeueAfter != want {
			t.Fatalf("minute %d: requeue after %v, want %v (the next slot)", m, res.RequeueAfter, want)
		}
		// A second loop in the same minute creates nothing new.
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		completeAll(t, c)
	}
	// The last loop pruned down to 2 finished + the newest; one more prunes.
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := completeAll(t, c)
	want := []string{"c1-" + strconv.FormatInt(start.Add(4*time.Minute).Unix(), 10), "c1-" + strconv.FormatInt(start.Add(5*time.Minute).Unix(), 10)}
	if !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

func TestScheduleSuspendedCreatesNothing(t *testing.T) {
	spec := every("*/1 * * * *", 2)
	spec.Suspend = true
	r, c, now := scheduleFixture(t, spec)
	*now = start.Add(3 * time.Minute)
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c1"}}); err != nil {
		t.Fatal(err)
	}
	if got := completeAll(t, c); len(got) != 0 {
		t.Fatalf("suspended schedule created %v", got)
	}
}

func TestScheduleInvalidIsTerminal(t *testing.T) {
	r, _, _ := scheduleFixture(t, every("every minute please", 2))
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "c1"}})
	if !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("err %v, want a terminal error", err)
	}
}

// TestFinishedScheduledBackupWakesTheSchedule: a scheduled backup that
// finishes must reach the schedule (which prunes), or keepLast 2 keeps 3
// finished backups until the next slot.
func TestFinishedScheduledBackupWakesTheSchedule(t *testing.T) {
	scheduled := &raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c1-1",
		Labels: map[string]string{LabelCluster: "c1", LabelScheduled: "true"}}}
	got := scheduledBackupCluster(context.Background(), scheduled)
	if len(got) != 1 || got[0].NamespacedName != (types.NamespacedName{Namespace: "ns", Name: "c1"}) {
		t.Errorf("scheduled backup maps to %v, want ns/c1", got)
	}
	manual := &raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m", Labels: map[string]string{LabelCluster: "c1"}}}
	if got := scheduledBackupCluster(context.Background(), manual); len(got) != 0 {
		t.Errorf("a manual backup woke the schedule: %v", got)
	}
}
