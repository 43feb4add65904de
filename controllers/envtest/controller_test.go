package envtest

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// noNodes is a NodeClient for a cluster whose pods never run (envtest has
// no kubelet): every call is Unavailable.
type noNodes struct{}

var errNoNode = status.Error(codes.Unavailable, "no kubelet in envtest")

func (noNodes) Status(context.Context, nodeclient.Endpoint) (*nodeclient.Status, error) {
	return nil, errNoNode
}
func (noNodes) ChangeMembers(context.Context, nodeclient.Endpoint, []nodeclient.Change) ([]nodeclient.Member, error) {
	return nil, errNoNode
}
func (noNodes) MoveLeader(context.Context, nodeclient.Endpoint, uint64) error { return errNoNode }
func (noNodes) MemberList(context.Context, nodeclient.Endpoint) ([]nodeclient.Member, error) {
	return nil, errNoNode
}
func (noNodes) Fenced(context.Context, nodeclient.Endpoint) (string, error) { return "", errNoNode }

// TestControllerObjectsAreAcceptedAndStable runs the reconciler against the
// real API server: every object it builds must pass the server's
// validation, and a second loop must not rewrite any of them (a builder
// that omits a server default would update it on every loop).
func TestControllerObjectsAreAcceptedAndStable(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	rc := createCluster(t, ctx, ns)
	r := &controllers.RaftClusterReconciler{Client: k8s, Scheme: scheme, Nodes: noNodes{},
		Recorder: events.NewFakeRecorder(100), Specs: specs.Options{ClusterDomain: "cluster.local"}}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rc)}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("first loop: %v", err)
	}
	objects := []client.Object{
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "kv"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kv"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kv-peer"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kv-leader"}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "kv"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kv-bootstrap"}},
	}
	versions := map[string]string{}
	for _, o := range objects {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.GetName()}, o); err != nil {
			t.Fatalf("%T %s: %v", o, o.GetName(), err)
		}
		versions[fmt.Sprintf("%T/%s", o, o.GetName())] = o.GetResourceVersion()
	}
	sts := objects[0].(*appsv1.StatefulSet)
	if *sts.Spec.Replicas != 3 || sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		t.Errorf("StatefulSet = %d replicas, %s", *sts.Spec.Replicas, sts.Spec.UpdateStrategy.Type)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("second loop: %v", err)
	}
	for _, o := range objects {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.GetName()}, o); err != nil {
			t.Fatal(err)
		}
		if key := fmt.Sprintf("%T/%s", o, o.GetName()); versions[key] != o.GetResourceVersion() {
			t.Errorf("%s was rewritten by a loop that had nothing to change", key)
		}
	}
	got := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if c := got.Condition(raftv1alpha1.ConditionAvailable); c == nil || c.Reason != raftv1alpha1.ReasonBootstrapping {
		t.Errorf("Available = %+v, want Bootstrapping", c)
	}
}

func TestPrinterColumns(t *testing.T) {
	ctx := testContext(t)
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := k8s.Get(ctx, client.ObjectKey{Name: "raftclusters.raft.kuberaft.io"}, crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	if len(versions) != 1 {
		t.Fatalf("versions = %v", versions)
	}
	cols, _, _ := unstructured.NestedSlice(versions[0].(map[string]any), "additionalPrinterColumns")
	var names []string
	for _, c := range cols {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	if fmt.Sprint(names) != "[Replicas Ready Leader Version Available Age]" {
		t.Errorf("printer columns = %v", names)
	}
	if sn, _, _ := unstructured.NestedStringSlice(crd.Object, "spec", "names", "shortNames"); fmt.Sprint(sn) != "[raft]" {
		t.Errorf("short names = %v", sn)
	}
}
