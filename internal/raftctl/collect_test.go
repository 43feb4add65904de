package raftctl

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/node/health"
)

type noMembers struct{}

func (noMembers) Status(context.Context, string, string) (*health.StatusJSON, error) {
	return nil, errors.New("unreachable")
}

// collectWith runs Collect over a fake API server whose RaftBackup list
// fails with listErr (nil: succeeds with one backup of the cluster and one
// of another cluster).
func collectWith(t *testing.T, listErr error) (Inputs, error) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), raftv1alpha1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "kv"}},
		&raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "mine"}, Spec: raftv1alpha1.RaftBackupSpec{Cluster: "kv"}},
		&raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other"}, Spec: raftv1alpha1.RaftBackupSpec{Cluster: "kv2"}},
	).WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if _, ok := list.(*raftv1alpha1.RaftBackupList); ok && listErr != nil {
			return listErr
		}
		return c.List(ctx, list, opts...)
	}}).Build()
	return (&Collector{Client: c, Members: noMembers{}}).Collect(context.Background(), "ns", "kv")
}

func TestCollectBackups(t *testing.T) {
	in, err := collectWith(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Backups) != 1 || in.Backups[0].Name != "mine" || in.BackupsError != nil {
		t.Errorf("backups %v (error %v), want only the cluster's own", in.Backups, in.BackupsError)
	}
	// No RBAC on raftbackups: the rest is collected, the error recorded.
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: raftv1alpha1.GroupVersion.Group, Resource: "raftbackups"}, "", errors.New("no"))
	in, err = collectWith(t, forbidden)
	if err != nil || !apierrors.IsForbidden(in.BackupsError) {
		t.Errorf("forbidden list: err %v, BackupsError %v", err, in.BackupsError)
	}
	// Any other failure fails the command.
	if _, err := collectWith(t, errors.New("connection refused")); err == nil {
		t.Error("a failing list was ignored")
	}
}
