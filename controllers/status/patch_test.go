package status

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

func TestPatchSkipsNoOpAndRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := raftv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Name: "kv", Namespace: "db"}}
	patches := 0
	var c client.Client
	c = fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(rc).WithObjects(rc).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			patches++
			if patches == 1 {
				// Someone else writes first: the optimistic lock must fail
				// this patch, and the helper must re-read and retry.
				other := &raftv1alpha1.RaftCluster{}
				if err := cl.Get(ctx, client.ObjectKeyFromObject(obj), other); err != nil {
					return err
				}
				other.Status.Leader = "kv-9"
				if err := cl.Status().Update(ctx, other); err != nil {
					return err
				}
			}
			return cl.SubResource(sub).Patch(ctx, obj, p, opts...)
		}}).Build()
	key := client.ObjectKeyFromObject(rc)
	st, err := Patch(ctx, c, key, func(s *raftv1alpha1.RaftClusterStatus) { s.Replicas = 3 })
	if err != nil {
		t.Fatal(err)
	}
	if patches != 2 || st.Replicas != 3 || st.Leader != "kv-9" {
		t.Errorf("patches = %d, status = %+v; want a retry on the conflict that keeps the other writer's field", patches, st)
	}
	if _, err := Patch(ctx, c, key, func(s *raftv1alpha1.RaftClusterStatus) { s.Replicas = 3 }); err != nil {
		t.Fatal(err)
	}
	if patches != 2 {
		t.Errorf("a no-op mutation patched (%d patches)", patches)
	}
}
