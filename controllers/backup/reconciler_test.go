package backup

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/backup/store"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

var start = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

type fixture struct {
	r      *Reconciler
	c      client.Client
	dir    *store.Dir
	dialed []string
}

func newFixture(t *testing.T, members []raftv1alpha1.MemberStatus, objs ...client.Object) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := raftv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c1"}}
	rc.Status.Members = members
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(append(objs, rc)...).
		WithStatusSubresource(&raftv1alpha1.RaftBackup{}, &raftv1alpha1.RaftCluster{}).Build()
	var buf bytes.Buffer
	if _, err := snapfile.Write(&buf, snapfile.Info{AppliedIndex: 42, Revision: 9, ClusterID: 0xabc}, testState(t)); err != nil {
		t.Fatal(err)
	}
	conn := serve(t, buf.Bytes())
	f := &fixture{c: c, dir: store.NewDir(t.TempDir(), "claim")}
	f.r = &Reconciler{
		Client: c, Now: func() time.Time { return start },
		Dial: func(ep nodeclient.Endpoint) (grpc.ClientConnInterface, func(), error) {
			f.dialed = append(f.dialed, ep.Pod+"."+ep.Service)
			return conn, func() {}, nil
		},
		Stores: func(context.Context, client.Reader, string, raftv1alpha1.BackupDestination) (store.Store, string, error) {
			return f.dir, "pfx", nil
		},
	}
	return f
}

func newBackup(name, cluster string) *raftv1alpha1.RaftBackup {
	return &raftv1alpha1.RaftBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: raftv1alpha1.RaftBackupSpec{Cluster: cluster, Destination: raftv1alpha1.BackupDestination{
			S3: &raftv1alpha1.S3Destination{Endpoint: "http://s3:9000", Bucket: "bkt", CredentialsSecret: "creds"}}},
	}
}

// drive reconciles until a final phase or n loops.
func (f *fixture) drive(t *testing.T, name string, n int) (*raftv1alpha1.RaftBackup, ctrl.Result) {
	t.Helper()
	var res ctrl.Result
	for range n {
		var err error
		res, err = f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}})
		if err != nil {
			t.Fatal(err)
		}
		var b raftv1alpha1.RaftBackup
		if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, &b); err != nil {
			t.Fatal(err)
		}
		if b.Status.Phase == raftv1alpha1.BackupCompleted || b.Status.Phase == raftv1alpha1.BackupFailed {
			return &b, res
		}
		if res.RequeueAfter > time.Second {
			return &b, res
		}
	}
	var b raftv1alpha1.RaftBackup
	_ = f.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, &b)
	return &b, res
}

var healthy3 = []raftv1alpha1.MemberStatus{
	{Name: "c1-0", Role: raftv1alpha1.RoleLeader, Healthy: true, AppliedIndex: 50},
	{Name: "c1-1", Role: raftv1alpha1.RoleFollower, Healthy: true, AppliedIndex: 49},
	{Name: "c1-2", Role: raftv1alpha1.RoleFollower, Healthy: false, AppliedIndex: 50},
}

func TestBackupCompletesFromAHealthyFollowerAndDeletionRemovesTheFile(t *testing.T) {
	f := newFixture(t, healthy3, newBackup("b1", "c1"))
	b, _ := f.drive(t, "b1", 5)
	if b.Status.Phase != raftv1alpha1.BackupCompleted {
		t.Fatalf("phase %s (%s)", b.Status.Phase, b.Status.Error)
	}
	if b.Status.Member != "c1-1" || len(f.dialed) != 1 || f.dialed[0] != "c1-1.c1-peer" {
		t.Fatalf("taken from %s (dialed %v), want the healthy follower c1-1", b.Status.Member, f.dialed)
	}
	wantKey := "pfx/ns/c1/b1-20261128T120000Z.db"
	if b.Status.Key != wantKey || b.Status.AppliedIndex != 42 || b.Status.Revision != 9 || b.Status.ClusterID != "abc" ||
		len(b.Status.SHA256) != 64 || b.Status.SizeBytes == 0 || b.Status.Size == "" || b.Status.CompletionTime == nil {
		t.Fatalf("status %+v", b.Status)
	}
	if _, err := f.dir.Get(context.Background(), wantKey); err != nil {
		t.Fatalf("file not stored: %v", err)
	}
	if v, _ := metricValue(t, "kuberaft_backup_last_success_timestamp_seconds", "ns", "c1"); v != float64(start.Unix()) {
		t.Errorf("kuberaft_backup_last_success_timestamp_seconds = %v, want the completion time %d", v, start.Unix())
	}
	if err := f.c.Delete(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "ns", Name: "b1"}
	if _, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Get(context.Background(), key, &raftv1alpha1.RaftBackup{}); !apierrors.IsNotFound(err) {
		t.Fatalf("RaftBackup still there after its finalizer ran: %v", err)
	}
	if _, err := f.dir.Get(context.Background(), wantKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting the RaftBackup left its file: %v", err)
	}
}

func TestBackupWaitsForAHealthyMember(t *testing.T) {
	down := []raftv1alpha1.MemberStatus{{Name: "c1-0", Role: raftv1alpha1.RoleLeader}, {Name: "c1-1", Role: raftv1alpha1.RoleFollower}}
	f := newFixture(t, down, newBackup("b1", "c1"))
	b, res := f.drive(t, "b1", 3)
	if b.Status.Phase != raftv1alpha1.BackupPending || res.RequeueAfter != waitForMember {
		t.Fatalf("phase %s, requeue %v; want Pending, %v", b.Status.Phase, res.RequeueAfter, waitForMember)
	}
}

func TestBackupOfAMissingClusterFails(t *testing.T) {
	f := newFixture(t, healthy3, newBackup("b1", "nope"))
	before, _ := metricValue(t, "kuberaft_backup_failures_total", "ns", "nope")
	b, _ := f.drive(t, "b1", 3)
	if b.Status.Phase != raftv1alpha1.BackupFailed || !strings.Contains(b.Status.Error, `RaftCluster "nope" not found`) {
		t.Fatalf("phase %s, error %q", b.Status.Phase, b.Status.Error)
	}
	// Counted once, however often the finished backup is reconciled again.
	if _, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "b1"}}); err != nil {
		t.Fatal(err)
	}
	if after, _ := metricValue(t, "kuberaft_backup_failures_total", "ns", "nope"); after != before+1 {
		t.Errorf("kuberaft_backup_failures_total went %v -> %v, want +1", before, after)
	}
	if v, _ := metricValue(t, "kuberaft_backup_last_failure_timestamp_seconds", "ns", "nope"); v != float64(start.Unix()) {
		t.Errorf("kuberaft_backup_last_failure_timestamp_seconds = %v, want %d", v, start.Unix())
	}
}
