package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
	"github.com/kuberaft/kuberaft/controllers/internal/fakecluster"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

const testNS = "db"

// eventLog is an events.EventRecorder that keeps "Reason: note" lines.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *eventLog) Eventf(_ runtime.Object, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%s %s: %s", eventtype, reason, fmt.Sprintf(note, args...)))
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// env is one RaftCluster in a fake API server with a simulated raft world.
type env struct {
	t      *testing.T
	ctx    context.Context
	c      client.Client
	world  *fakecluster.Cluster
	r      *controllers.RaftClusterReconciler
	events *eventLog
	key    types.NamespacedName
	// trace is every event, in order, since the env was created.
	trace []string
	// crashes counts reconciles that ended in a panic (a failpoint).
	crashes int
	// onTick, when set, runs before each tick's world Sync (a fault that
	// must happen at a point of a change, e.g. while joint).
	onTick func()
	// jointLoops counts the loops that ran while the world was joint.
	jointLoops int
}

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := raftv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func newRaftCluster(replicas int32) *raftv1alpha1.RaftCluster {
	return &raftv1alpha1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "kv", Namespace: testNS, UID: "rc-uid-1", Generation: 1},
		Spec: raftv1alpha1.RaftClusterSpec{
			Replicas: ptr.To(replicas), Version: "v1",
			Storage: raftv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")},
			Raft:    raftv1alpha1.RaftSettings{HeartbeatInterval: 100, ElectionTimeout: 1000, SnapshotCount: 10000},
		},
	}
}

func newEnv(t *testing.T, replicas int32) *env {
	t.Helper()
	return newEnvWith(t, replicas, interceptor.Funcs{})
}

// newEnvWith builds an env whose API client calls pass through funcs.
func newEnvWith(t *testing.T, replicas int32, funcs interceptor.Funcs) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	scheme := newScheme(t)
	rc := newRaftCluster(replicas)
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&raftv1alpha1.RaftCluster{}, &corev1.Pod{}).
		WithObjects(rc).WithInterceptorFuncs(funcs).Build()
	e := &env{t: t, ctx: ctx, c: c, world: fakecluster.New(c, testNS, rc.Name), events: &eventLog{},
		key: client.ObjectKeyFromObject(rc)}
	e.restartOperator()
	return e
}

// restartOperator replaces the reconciler with a fresh one, as a new
// operator process would be: no memory of the previous loops.
func (e *env) restartOperator() {
	e.r = &controllers.RaftClusterReconciler{
		Client: e.c, Scheme: e.c.Scheme(), Recorder: e.events, Nodes: e.world,
		Specs: specs.Options{ClusterDomain: "cluster.local"},
		Now:   func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
}

// reconcile runs one loop; a panic (a failpoint) counts as a crash and
// restarts the operator.
func (e *env) reconcile() (res ctrl.Result, err error) {
	e.t.Helper()
	defer func() {
		if p := recover(); p != nil {
			e.crashes++
			e.trace = append(e.trace, fmt.Sprintf("CRASH at %v", p))
			e.restartOperator()
			res, err = ctrl.Result{}, nil
		}
		e.trace = append(e.trace, e.events.take()...)
	}()
	return e.r.Reconcile(e.ctx, ctrl.Request{NamespacedName: e.key})
}

// tick is one loop of the operator followed by one tick of the world.
func (e *env) tick() {
	e.t.Helper()
	if _, err := e.reconcile(); err != nil {
		e.trace = append(e.trace, "ERROR "+err.Error())
	}
	e.checkJointKept()
	if e.onTick != nil {
		e.onTick()
	}
	if err := e.world.Sync(e.ctx); err != nil {
		e.t.Fatalf("world sync: %v", err)
	}
}

// checkJointKept checks what must hold while the configuration is joint:
// every outgoing voter keeps its pod (the StatefulSet is large enough) and
// its volume, and the PDB keeps a quorum of the outgoing voters, because
// leaving the joint configuration needs a majority of them.
func (e *env) checkJointKept() {
	e.t.Helper()
	joint, outgoing := e.world.Joint()
	if !joint {
		return
	}
	e.jointLoops++
	sts := &appsv1.StatefulSet{}
	if err := e.c.Get(e.ctx, e.key, sts); err != nil {
		e.t.Fatal(err)
	}
	pvcs := map[string]bool{}
	for _, o := range e.list(&corev1.PersistentVolumeClaimList{}) {
		pvcs[o.GetName()] = o.GetDeletionTimestamp().IsZero()
	}
	for _, name := range outgoing {
		var n int
		if _, err := fmt.Sscanf(name, "kv-%d", &n); err != nil {
			e.t.Fatal(err)
		}
		if int(*sts.Spec.Replicas) <= n {
			e.t.Errorf("while joint the StatefulSet shrank to %d: outgoing voter %s lost its pod", *sts.Spec.Replicas, name)
		}
		if !pvcs[specs.PVCName(name)] {
			e.t.Errorf("while joint the volume of outgoing voter %s was deleted", name)
		}
	}
	pods := e.pods()
	for _, name := range outgoing {
		// The role label of an outgoing voter holds (the PDB selects voters
		// by it); it may lag one loop behind, never turn learner or vanish.
		if pod := pods[name]; pod != nil {
			if role := pod.Labels[specs.LabelRole]; role != specs.RoleFollower && role != specs.RoleLeader {
				e.t.Errorf("while joint outgoing voter %s is labelled %q", name, role)
			}
		}
	}
	pdb := &policyv1.PodDisruptionBudget{}
	if err := e.c.Get(e.ctx, e.key, pdb); err != nil {
		e.t.Fatal(err)
	}
	if got, want := pdb.Spec.MinAvailable.IntValue(), len(outgoing)/2+1; got < want {
		e.t.Errorf("while joint the PDB allows down to %d, below the outgoing quorum %d", got, want)
	}
}

// converge ticks until the cluster matches its spec, failing after max
// loops. It returns the number of loops taken.
func (e *env) converge(max int) int {
	e.t.Helper()
	for i := 1; i <= max; i++ {
		e.tick()
		if msg := e.notConverged(); msg == "" {
			e.checkConvergedObjects()
			return i
		}
	}
	e.t.Fatalf("not converged after %d loops: %s\ntrace:\n%s", max, e.notConverged(), strings.Join(e.trace, "\n"))
	return max
}

// notConverged says why the cluster does not match its spec yet, or "".
func (e *env) notConverged() string {
	rc := e.get()
	want := int(rc.DesiredReplicas())
	members := e.world.Members()
	if len(members) != want {
		return fmt.Sprintf("%d members, want %d", len(members), want)
	}
	for name, learner := range members {
		if learner {
			return "learner " + name + " not promoted"
		}
	}
	if c := meta.FindStatusCondition(rc.Status.Conditions, raftv1alpha1.ConditionProgressing); c == nil || c.Status != metav1.ConditionFalse {
		return fmt.Sprintf("still progressing: %+v", c)
	}
	if !meta.IsStatusConditionTrue(rc.Status.Conditions, raftv1alpha1.ConditionAvailable) {
		return "not available"
	}
	if int(rc.Status.ReadyReplicas) != want || !meta.IsStatusConditionFalse(rc.Status.Conditions, raftv1alpha1.ConditionDegraded) {
		return fmt.Sprintf("%d healthy members of %d, Degraded %+v", rc.Status.ReadyReplicas, want,
			meta.FindStatusCondition(rc.Status.Conditions, raftv1alpha1.ConditionDegraded))
	}
	if rc.Status.Recovery != nil && rc.Status.Recovery.Apply.Active() {
		return fmt.Sprintf("recovery still under way: %+v", rc.Status.Recovery.Apply)
	}
	if rc.Status.Operation != nil {
		return fmt.Sprintf("operation still recorded: %+v", rc.Status.Operation)
	}
	if n := len(e.list(&corev1.PersistentVolumeClaimList{})); n != want {
		return fmt.Sprintf("%d PVCs, want %d", n, want)
	}
	sts := &appsv1.StatefulSet{}
	if err := e.c.Get(e.ctx, e.key, sts); err != nil || int(*sts.Spec.Replicas) != want {
		return fmt.Sprintf("StatefulSet not at %d replicas", want)
	}
	return ""
}

// checkConvergedObjects checks what must hold on every converged cluster:
// one pod labelled leader (the status's leader), the others followers; a
// PDB keeping a quorum of the voters; status counts and tolerance.
func (e *env) checkConvergedObjects() {
	e.t.Helper()
	rc := e.get()
	n := int(rc.DesiredReplicas())
	for name, pod := range e.pods() {
		want := specs.RoleFollower
		if name == rc.Status.Leader {
			want = specs.RoleLeader
		}
		if got := pod.Labels[specs.LabelRole]; got != want {
			e.t.Errorf("pod %s role label = %q, want %q (leader %s)", name, got, want, rc.Status.Leader)
		}
	}
	pdb := &policyv1.PodDisruptionBudget{}
	if err := e.c.Get(e.ctx, e.key, pdb); err != nil {
		e.t.Fatal(err)
	}
	if got := pdb.Spec.MinAvailable.IntValue(); got != n/2+1 {
		e.t.Errorf("PDB minAvailable = %d for %d voters", got, n)
	}
	if st := rc.Status; len(st.Members) != n || int(st.Replicas) != n || int(st.FailureTolerance) != (n-1)/2 || st.Joint {
		e.t.Errorf("status: %d members, replicas %d, failureTolerance %d, joint %v; want %d members", len(st.Members), st.Replicas,
			st.FailureTolerance, st.Joint, n)
	}
}

func (e *env) get() *raftv1alpha1.RaftCluster {
	e.t.Helper()
	rc := &raftv1alpha1.RaftCluster{}
	if err := e.c.Get(e.ctx, e.key, rc); err != nil {
		e.t.Fatal(err)
	}
	return rc
}

// update changes the spec, as `kubectl edit` would.
func (e *env) update(mutate func(*raftv1alpha1.RaftClusterSpec)) {
	e.t.Helper()
	rc := e.get()
	mutate(&rc.Spec)
	rc.Generation++
	if err := e.c.Update(e.ctx, rc); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) list(l client.ObjectList) []client.Object {
	e.t.Helper()
	if err := e.c.List(e.ctx, l, client.InNamespace(testNS)); err != nil {
		e.t.Fatal(err)
	}
	items, err := meta.ExtractList(l)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]client.Object, len(items))
	for i, it := range items {
		out[i] = it.(client.Object)
	}
	return out
}

// pods returns the member pods by name.
func (e *env) pods() map[string]*corev1.Pod {
	e.t.Helper()
	out := map[string]*corev1.Pod{}
	for _, o := range e.list(&corev1.PodList{}) {
		out[o.GetName()] = o.(*corev1.Pod)
	}
	return out
}

// actions returns the trace lines of acting steps and crashes only.
func (e *env) actions() []string {
	var out []string
	for _, l := range e.trace {
		if strings.HasPrefix(l, "CRASH") || strings.HasPrefix(l, "Normal") || strings.HasPrefix(l, "Warning") {
			out = append(out, l)
		}
	}
	return out
}
