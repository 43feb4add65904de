package envtest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

var nsSeq atomic.Int32

// namespace creates a namespace of the test's own.
// createCluster creates a minimal valid RaftCluster "kv" in ns.
func createCluster(t *testing.T, ctx context.Context, ns string) *raftv1alpha1.RaftCluster {
	t.Helper()
	rc := &raftv1alpha1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Name: "kv", Namespace: ns},
		Spec: raftv1alpha1.RaftClusterSpec{Version: "v1", Storage: raftv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}
	if err := k8s.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

func namespace(t *testing.T, ctx context.Context) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", nsSeq.Add(1))}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// unstructuredOf builds one of our kinds from a JSON-like spec map, so
// tests can send what the Go types cannot express (missing required
// fields, wrong types).
func unstructuredOf(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(raftv1alpha1.GroupVersion.String())
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func unstructuredCluster(ns, name string, spec map[string]any) *unstructured.Unstructured {
	return unstructuredOf("RaftCluster", ns, name, spec)
}

func validSpec() map[string]any {
	return map[string]any{"version": "v1", "storage": map[string]any{"size": "1Gi"}}
}

func with(spec map[string]any, path string, value any) map[string]any {
	keys := strings.Split(path, ".")
	m := spec
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	if value == nil {
		delete(m, keys[len(keys)-1])
	} else {
		m[keys[len(keys)-1]] = value
	}
	return spec
}

func TestInvalidSpecsAreRejectedWithTheirMessage(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	for i, tc := range []struct {
		name string
		spec map[string]any
		want string
	}{
		{"zero replicas", with(validSpec(), "replicas", 0), "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"},
		{"ten replicas", with(validSpec(), "replicas", 10), "spec.replicas in body should be less than or equal to 9"},
		{"neither version nor image", with(validSpec(), "version", nil), "one of spec.version or spec.image must be set"},
		{"bad version tag", with(validSpec(), "version", "v1 beta"), "spec.version in body should match"},
		{"image with spaces", with(validSpec(), "image", "repo/raftnode: v1"), "spec.image in body should match"},
		{"missing storage", with(validSpec(), "storage", nil), "spec.storage: Required value"},
		{"zero storage size", with(validSpec(), "storage.size", "0"), "storage.size must be greater than zero"},
		{"heartbeat too short", with(validSpec(), "raft.heartbeatInterval", 1), "spec.raft.heartbeatInterval in body should be greater than or equal to 10"},
		{"election timeout under 5 heartbeats", with(with(validSpec(), "raft.heartbeatInterval", 200), "raft.electionTimeout", 500),
			"raft.electionTimeout must be at least 5 times raft.heartbeatInterval"},
		{"heartbeat alone against the default election timeout", with(validSpec(), "raft.heartbeatInterval", 300),
			"raft.electionTimeout must be at least 5 times raft.heartbeatInterval"},
		{"zero snapshot count", with(validSpec(), "raft.snapshotCount", 0), "spec.raft.snapshotCount in body should be greater than or equal to 1"},
		{"reserved pod label", with(validSpec(), "podTemplate.labels", map[string]any{"raft.kuberaft.io/role": "leader"}),
			"podTemplate.labels must not use the reserved keys"},
		{"reserved pod annotation", with(validSpec(), "podTemplate.annotations", map[string]any{"raft.kuberaft.io/template-hash": "x"}),
			"podTemplate.annotations must not use the reserved prefix"},
		{"replicas not a number", with(validSpec(), "replicas", "three"), "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer"},
		{"unknown reclaim policy", with(validSpec(), "storage.reclaimPolicy", "Recycle"), "spec.storage.reclaimPolicy: Unsupported value: \"Recycle\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(ctx, unstructuredCluster(ns, fmt.Sprintf("bad-%d", i), tc.spec))
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("err = %v, want the API server to reject the spec", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q does not say %q", err.Error(), tc.want)
			}
		})
	}
}

// TestInvalidNamesAreRejected: the name becomes Service, StatefulSet and
// pod names and a pod label value (<name>-<hash>), so it must be a
// DNS-1035 label of at most 52 characters.
func TestInvalidNamesAreRejected(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	for _, tc := range []struct {
		name, rcName, want string
	}{
		{"53 characters", "a" + strings.Repeat("b", 52), "metadata.name must be at most 52 characters"},
		{"starts with a digit", "1kv", "metadata.name must be a DNS-1035 label"},
		{"contains a dot", "kv.prod", "metadata.name must be a DNS-1035 label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(ctx, unstructuredCluster(ns, tc.rcName, validSpec()))
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it rejected saying %q", err, tc.want)
			}
		})
	}
	if err := k8s.Create(ctx, unstructuredCluster(ns, "k"+strings.Repeat("v", 51), validSpec())); err != nil {
		t.Errorf("a 52-character name must be accepted: %v", err)
	}
}

func TestStorageIsImmutable(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	rc := createCluster(t, ctx, ns)
	for name, mutate := range map[string]func(*raftv1alpha1.RaftCluster){
		"size":  func(rc *raftv1alpha1.RaftCluster) { rc.Spec.Storage.Size = resource.MustParse("2Gi") },
		"class": func(rc *raftv1alpha1.RaftCluster) { rc.Spec.Storage.StorageClassName = ptr.To("fast") },
	} {
		t.Run(name, func(t *testing.T) {
			cur := &raftv1alpha1.RaftCluster{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(rc), cur); err != nil {
				t.Fatal(err)
			}
			mutate(cur)
			err := k8s.Update(ctx, cur)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "storage is immutable") {
				t.Errorf("err = %v, want storage is immutable", err)
			}
		})
	}
	cur := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(rc), cur); err != nil {
		t.Fatal(err)
	}
	if cur.Spec.Storage.ReclaimPolicy != raftv1alpha1.ReclaimRetain {
		t.Errorf("storage.reclaimPolicy = %q, want the default Retain", cur.Spec.Storage.ReclaimPolicy)
	}
	cur.Spec.Version, cur.Spec.Replicas = "v2", ptr.To[int32](5)
	cur.Spec.Storage.ReclaimPolicy = raftv1alpha1.ReclaimDelete
	if err := k8s.Update(ctx, cur); err != nil {
		t.Errorf("changing version, replicas and storage.reclaimPolicy must be allowed: %v", err)
	}
}

func TestDefaulting(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	u := unstructuredCluster(ns, "kv", validSpec())
	if err := k8s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	rc := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kv"}, rc); err != nil {
		t.Fatal(err)
	}
	if rc.Spec.Replicas == nil || *rc.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want the default 3", rc.Spec.Replicas)
	}
	if r := rc.Spec.Raft; r.HeartbeatInterval != 100 || r.ElectionTimeout != 1000 || r.SnapshotCount != 10000 {
		t.Errorf("raft = %+v, want defaults 100/1000/10000", r)
	}
	// A partial raft block is completed, and the CEL rule sees the defaults.
	u = unstructuredCluster(ns, "kv2", with(validSpec(), "raft.electionTimeout", 2000))
	if err := k8s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kv2"}, rc); err != nil {
		t.Fatal(err)
	}
	if rc.Spec.Raft.HeartbeatInterval != 100 || rc.Spec.Raft.ElectionTimeout != 2000 {
		t.Errorf("raft = %+v", rc.Spec.Raft)
	}
}

func TestStatusSubresource(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	rc := createCluster(t, ctx, ns)
	gen := rc.Generation
	rc.Status = raftv1alpha1.RaftClusterStatus{Replicas: 3, ReadyReplicas: 2, Leader: "kv-0",
		Members:    []raftv1alpha1.MemberStatus{{Name: "kv-0", ID: "8e9e05c52164694d", Role: raftv1alpha1.RoleLeader, Healthy: true}},
		Operation:  &raftv1alpha1.Operation{Type: raftv1alpha1.OperationScaleOut, Step: "AddLearners", StartedAt: metav1.Now()},
		Conditions: []metav1.Condition{{Type: raftv1alpha1.ConditionAvailable, Status: metav1.ConditionTrue, Reason: raftv1alpha1.ReasonQuorumHealthy, LastTransitionTime: metav1.Now()}},
	}
	if err := k8s.Status().Update(ctx, rc); err != nil {
		t.Fatal(err)
	}
	got := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(rc), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Leader != "kv-0" || got.Status.Operation == nil || got.Generation != gen {
		t.Errorf("status = %+v, generation %d→%d (a status write must not bump it)", got.Status, gen, got.Generation)
	}
	// A spec update must not change the status, and vice versa.
	got.Spec.Version = "v2"
	got.Status.Leader = "kv-9"
	if err := k8s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(rc), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Leader != "kv-0" || got.Spec.Version != "v2" || got.Generation != gen+1 {
		t.Errorf("after a spec update: leader %q, version %q, generation %d", got.Status.Leader, got.Spec.Version, got.Generation)
	}
	// Status members must carry a valid role.
	got.Status.Members[0].Role = "Boss"
	if err := k8s.Status().Update(ctx, got); !apierrors.IsInvalid(err) {
		t.Errorf("err = %v, want an invalid role rejected", err)
	}
}

func TestScaleSubresource(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	rc := createCluster(t, ctx, ns)
	rc.Status.Replicas, rc.Status.Selector = 3, "app.kubernetes.io/name=raftnode,raft.kuberaft.io/cluster=kv"
	if err := k8s.Status().Update(ctx, rc); err != nil {
		t.Fatal(err)
	}
	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(ctx, rc, scale); err != nil {
		t.Fatal(err)
	}
	if scale.Spec.Replicas != 3 || scale.Status.Replicas != 3 || scale.Status.Selector != rc.Status.Selector {
		t.Errorf("scale = %+v", scale)
	}
	// What `kubectl scale raft/kv --replicas=5` does.
	scale.Spec.Replicas = 5
	if err := k8s.SubResource("scale").Update(ctx, rc, client.WithSubResourceBody(scale)); err != nil {
		t.Fatal(err)
	}
	got := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(rc), got); err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 5 {
		t.Errorf("spec.replicas = %d after scaling to 5", *got.Spec.Replicas)
	}
	scale.Spec.Replicas = 10
	scale.ResourceVersion = ""
	if err := k8s.SubResource("scale").Update(ctx, got, client.WithSubResourceBody(scale)); !apierrors.IsInvalid(err) {
		t.Errorf("scaling to 10 = %v, want rejected by the replicas bound", err)
	}
}
