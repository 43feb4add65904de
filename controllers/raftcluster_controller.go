// Package controllers reconciles RaftClusters. It only orchestrates: it
// observes the cluster once per loop, keeps the owned objects in shape,
// asks the membership planner for the next step and carries that step out
// through the NodeClient. Decisions live in controllers/membership, object
// shapes in controllers/specs, conditions in controllers/status.
package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/certs"
	"github.com/kuberaft/kuberaft/controllers/clustermetrics"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// Requeue periods. Node state (leader, progress) is not watched, so a
// converged cluster is still re-observed every ResyncPeriod. A wait is
// re-checked after WaitingRequeue, doubling while the same cluster keeps
// waiting (paused included) up to ResyncPeriod: 2, 4, 8, 15 s. A watched
// change (spec, pods, owned objects) still wakes the loop at once.
const (
	ActedRequeue   = 1 * time.Second
	WaitingRequeue = 2 * time.Second
	ResyncPeriod   = 15 * time.Second
)

// WaitBackoff is the requeue after the n-th consecutive waiting loop
// (n = 0 for the first).
func WaitBackoff(n int) time.Duration {
	if n >= 4 { // 2 s << 3 already exceeds ResyncPeriod
		return ResyncPeriod
	}
	return min(WaitingRequeue<<n, ResyncPeriod)
}

// RaftClusterReconciler reconciles RaftCluster objects.
type RaftClusterReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Nodes reaches the raft nodes; a fake in unit tests.
	Nodes nodeclient.NodeClient
	// Specs are the operator-wide settings of the object builders.
	Specs specs.Options
	// Failpoint, when set, is called with a name at each point between the
	// non-atomic halves of a change (see failpoints.go). Tests make it
	// panic to simulate an operator crash there; it is nil in production.
	Failpoint func(name string)
	// Now returns the current time; tests may fix it.
	Now func() time.Time
	// TestHolds makes the operator honour AnnotationTestHoldBefore (see
	// requests.go); only e2e tests enable it (--enable-test-holds).
	TestHolds bool
	// TLS receives the operator's client identity per cluster; it is the
	// store Nodes dials with.
	TLS *nodeclient.TLSStore
	// SecretReader reads Secrets uncached (the manager's API reader), so
	// the operator neither lists nor watches every Secret; nil uses Client.
	SecretReader client.Reader
	// JobPods reads the restore Job's pod (its termination message)
	// uncached: the cache holds only member pods (CacheOptions); nil uses
	// Client.
	JobPods client.Reader
	// CertPolicy sets the managed certificates' lifetimes; zero means
	// certs.DefaultPolicy.
	CertPolicy certs.Policy

	// waits counts each cluster's consecutive waiting loops (WaitBackoff);
	// an acting or converged loop resets it. liveWritten is when each
	// cluster's live figures were last written (LiveFiguresPeriod). Both
	// are per-process memory: a restarted operator starts afresh.
	waitsMu     sync.Mutex
	waits       map[types.NamespacedName]int
	liveWritten map[types.NamespacedName]time.Time
}

// waitRequeue records one more waiting loop of cluster key and returns how
// long to wait before the next.
func (r *RaftClusterReconciler) waitRequeue(key types.NamespacedName) time.Duration {
	r.waitsMu.Lock()
	defer r.waitsMu.Unlock()
	if r.waits == nil {
		r.waits = map[types.NamespacedName]int{}
	}
	d := WaitBackoff(r.waits[key])
	r.waits[key]++
	return d
}

// resetWaits forgets cluster key's waiting loops.
func (r *RaftClusterReconciler) resetWaits(key types.NamespacedName) {
	r.waitsMu.Lock()
	defer r.waitsMu.Unlock()
	delete(r.waits, key)
}

// phase is one named step of a loop. A non-zero Result or an error ends
// the loop.
type phase struct {
	name string
	run  func(ctx context.Context, s *reconcileState) (ctrl.Result, error)
}

// Only the verbs the loop uses: objects are created and updated
// (controllerutil.CreateOrUpdate) and garbage-collected through owner
// references, pods are patched (role label) and deleted (upgrade,
// replace), PVCs deleted, Secrets read live and written, status patched.
// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftclusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftclusters/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Reconcile observes the cluster, keeps its objects in shape and takes at
// most one membership step. Status is written once, at the end.
func (r *RaftClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	rc := &raftv1alpha1.RaftCluster{}
	if err := r.Get(ctx, req.NamespacedName, rc); err != nil {
		if apierrors.IsNotFound(err) {
			r.resetWaits(req.NamespacedName)
			clustermetrics.Forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owned objects go with it (owner references)
	}
	s := newReconcileState(rc)
	defer func() {
		// A crash (a panic, or a failpoint in tests) must write nothing
		// more, exactly as a killed process would; re-panic so that
		// controller-runtime reports it.
		if p := recover(); p != nil {
			panic(p)
		}
		err = r.writeStatus(ctx, s, err)
		if err != nil {
			clustermetrics.ReconcileError(rc.Namespace, rc.Name)
		}
	}()
	for _, p := range []phase{
		{"ensureCertificates", r.ensureCertificates},
		{"observe", r.observe},
		{"ensureRestore", r.ensureRestore},
		{"ensureObjects", r.ensureObjects},
		{"labelRoles", r.labelRoles},
		{"cleanupVolumes", r.cleanupVolumes},
		{"reconcileRequests", r.reconcileRequests},
		{"reconcileRecovery", r.reconcileRecovery},
		{"reconcileMembership", r.reconcileMembership},
	} {
		start := time.Now()
		res, err = p.run(ctx, s)
		observePhase(p.name, start, err)
		if apierrors.IsConflict(err) {
			// Someone (often the StatefulSet controller) wrote first: not a
			// failure, just re-observe soon.
			log.FromContext(ctx).V(1).Info("Conflict; requeueing", "phase", p.name, "err", err.Error())
			s.incomplete = true
			return ctrl.Result{RequeueAfter: ActedRequeue}, nil
		}
		if err != nil || !res.IsZero() {
			return res, err
		}
	}
	return res, nil
}

// errTerminal marks a misconfiguration that retrying cannot fix.
var errTerminal = errors.New("cannot reconcile")

// SetupWithManager registers the controller: it owns the objects it
// creates and watches the member pods (owned by the StatefulSet) through
// their cluster label.
func (r *RaftClusterReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Annotations carry user requests (requests.go); status writes
		// change neither, so they do not wake the controller.
		For(&raftv1alpha1.RaftCluster{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&batchv1.Job{}). // a restore's fetch Job
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToCluster)).
		Named("raftcluster").
		Complete(r)
}

func podToCluster(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := o.GetLabels()[specs.LabelCluster]
	if !ok || o.GetLabels()[specs.LabelName] != specs.AppName {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
}
