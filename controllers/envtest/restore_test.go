package envtest

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// TestRestoreObjectsAreAccepted runs a restore's first loops against the
// real API server: the first member's PVC and the fetch Job (S3 source
// with a CA bundle: env from a Secret, a Secret volume) pass its
// validation, and nothing else of the cluster exists before the fetch.
func TestRestoreObjectsAreAccepted(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	b := &raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Name: "b1", Namespace: ns},
		Spec: raftv1alpha1.RaftBackupSpec{Cluster: "old", Destination: raftv1alpha1.BackupDestination{S3: &raftv1alpha1.S3Destination{
			Endpoint: "http://s3.x.svc:9000", Bucket: "bkt", CredentialsSecret: "creds", CABundle: &raftv1alpha1.SecretKeyRef{Name: "ca", Key: "ca.crt"}}}}}
	if err := k8s.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Status = raftv1alpha1.RaftBackupStatus{Phase: raftv1alpha1.BackupCompleted, Key: "old/b1.db", SHA256: strings.Repeat("a", 64)}
	if err := k8s.Status().Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Name: "kv", Namespace: ns},
		Spec: raftv1alpha1.RaftClusterSpec{Version: "v1", Storage: raftv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")},
			Bootstrap: &raftv1alpha1.BootstrapSpec{Restore: &raftv1alpha1.RestoreSource{Backup: "b1"}}}}
	if err := k8s.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	r := &controllers.RaftClusterReconciler{Client: k8s, Scheme: scheme, Nodes: noNodes{},
		Recorder: events.NewFakeRecorder(100), Specs: specs.Options{ClusterDomain: "cluster.local"}}
	for range 3 {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rc)}); err != nil {
			t.Fatal(err)
		}
	}
	var pvc corev1.PersistentVolumeClaim
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-kv-0"}, &pvc); err != nil {
		t.Fatalf("first member's PVC: %v", err)
	}
	var job batchv1.Job
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kv-restore"}, &job); err != nil {
		t.Fatalf("fetch Job: %v", err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kv-bootstrap"}, &corev1.ConfigMap{}); err == nil {
		t.Error("the bootstrap was recorded before the file was fetched")
	}
	got := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(rc), got); err != nil {
		t.Fatal(err)
	}
	if c := got.Condition(raftv1alpha1.ConditionRestored); c == nil || c.Reason != raftv1alpha1.ReasonRestoreFetching {
		t.Errorf("Restored = %+v, want FetchingSnapshot", c)
	}
}
