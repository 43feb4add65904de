package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/backup/policy"
	"github.com/kuberaft/kuberaft/controllers/backup/store"
	"github.com/kuberaft/kuberaft/controllers/clustermetrics"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"google.golang.org/grpc"

	"github.com/kuberaft/kuberaft/node/snapfile"
)

// FinalizerFile makes deleting a RaftBackup delete its stored file first
// (retention pruning deletes objects; the files must go with them).
const FinalizerFile = "raft.kuberaft.io/backup-file"

// Timing of the reconciler.
const (
	// waitForMember is how long a backup waits between looks for a healthy
	// member to take it from.
	waitForMember = 10 * time.Second
	// takeTimeout bounds one snapshot download, store and read-back.
	takeTimeout = 5 * time.Minute
)

// Secret keys of an S3 credentials Secret (the names etcd-backup-restore
// and most S3 tools use).
const (
	SecretAccessKeyID     = "accessKeyID"
	SecretSecretAccessKey = "secretAccessKey"
)

// Dialer opens a gRPC connection to a member's client port; close releases it.
type Dialer func(ep nodeclient.Endpoint) (conn grpc.ClientConnInterface, close func(), err error)

// Reconciler takes RaftBackups. The operator itself streams the snapshot
// from the chosen member and writes it to the destination.
type Reconciler struct {
	Client client.Client
	// Secrets reads the credentials Secrets uncached (the manager's
	// APIReader), so the operator does not cache every Secret of the
	// cluster; nil means Client.
	Secrets client.Reader
	// JobPods reads the agent Jobs' pods (their termination messages)
	// uncached: the manager's cache holds only member pods (see
	// controllers.CacheOptions). nil means Client (unit tests).
	JobPods  client.Reader
	Recorder events.EventRecorder
	Dial     Dialer
	// Address is a member's client host:port as seen from a pod in the
	// cluster (the PVC agent Job dials it).
	Address func(nodeclient.Endpoint) string
	// Stores builds the store of a destination; nil means OpenStore.
	Stores func(ctx context.Context, c client.Reader, namespace string, d raftv1alpha1.BackupDestination) (store.Store, string, error)
	Now    func() time.Time
}

// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftbackups,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftbackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=raft.kuberaft.io,resources=raftbackups/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&raftv1alpha1.RaftBackup{}).Owns(&batchv1.Job{}).Named("raftbackup").Complete(r)
}

// Reconcile drives one RaftBackup: Pending (no healthy member yet) →
// Running (start time and member recorded, so the object key is stable
// across crashes) → Completed or Failed. A crash while Running retakes the
// snapshot under the same key.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var b raftv1alpha1.RaftBackup
	if err := r.Client.Get(ctx, req.NamespacedName, &b); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !b.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &b)
	}
	if controllerutil.AddFinalizer(&b, FinalizerFile) {
		if err := r.Client.Update(ctx, &b); err != nil {
			return ctrl.Result{}, err
		}
	}
	if b.Status.Phase == raftv1alpha1.BackupCompleted || b.Status.Phase == raftv1alpha1.BackupFailed {
		// Every finished backup is seen again after an operator restart:
		// the last-success/failure gauges come back from here.
		clustermetrics.ObserveBackup(&b)
		return ctrl.Result{}, nil
	}
	var rc raftv1alpha1.RaftCluster
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Cluster}, &rc); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.fail(ctx, &b, fmt.Errorf("RaftCluster %q not found", b.Spec.Cluster))
		}
		return ctrl.Result{}, err
	}
	if b.Status.StartTime == nil {
		return r.start(ctx, &b, &rc)
	}
	if b.Spec.Destination.PVC != nil {
		return r.takeViaJob(ctx, &b, &rc)
	}
	return ctrl.Result{}, r.take(ctx, &b, &rc)
}

// waitForJob is how often a running agent Job is looked at (its
// completion also triggers a reconcile through Owns).
const waitForJob = 5 * time.Second

// takeViaJob writes the snapshot to a PVC through the agent Job.
func (r *Reconciler) takeViaJob(ctx context.Context, b *raftv1alpha1.RaftBackup, rc *raftv1alpha1.RaftCluster) (ctrl.Result, error) {
	key := policy.ObjectKey(b.Spec.Destination.PVC.Prefix, b.Namespace, rc.Name, b.Name, b.Status.StartTime.Time)
	ep := nodeclient.Endpoint{Namespace: rc.Namespace, Service: specs.PeerServiceName(rc), Pod: b.Status.Member}
	tlsSecret := ""
	if rc.TLSEnabled() {
		tlsSecret = specs.OperatorSecretName(rc)
	}
	out, err := r.runAgent(ctx, b, rc.DesiredImage(), agentSave, key, r.address(ep), tlsSecret)
	switch {
	case err != nil:
		return ctrl.Result{}, err
	case out.failed:
		return ctrl.Result{}, r.fail(ctx, b, fmt.Errorf("backup job failed: %s", out.message))
	case !out.done:
		return ctrl.Result{RequeueAfter: waitForJob}, nil
	}
	info, err := parseAgentResult(out.message)
	if err != nil {
		return ctrl.Result{}, r.fail(ctx, b, err)
	}
	return ctrl.Result{}, r.complete(ctx, b, info, key, pvcLocation(b.Spec.Destination, key))
}

func (r *Reconciler) address(ep nodeclient.Endpoint) string {
	if r.Address != nil {
		return r.Address(ep)
	}
	return fmt.Sprintf("%s.%s.%s.svc:%d", ep.Pod, ep.Service, ep.Namespace, specs.ClientPort)
}

// start picks the member and records it with the start time (Running).
func (r *Reconciler) start(ctx context.Context, b *raftv1alpha1.RaftBackup, rc *raftv1alpha1.RaftCluster) (ctrl.Result, error) {
	src, err := policy.PickSource(sourceMembers(rc))
	if errors.Is(err, policy.ErrNoHealthyMember) {
		return ctrl.Result{RequeueAfter: waitForMember}, r.patch(ctx, b, func(s *raftv1alpha1.RaftBackupStatus) {
			s.Phase = raftv1alpha1.BackupPending
		})
	}
	now := metav1.NewTime(r.now())
	r.event(b, corev1.EventTypeNormal, "Started", "Taking the snapshot from member %s", src)
	return ctrl.Result{RequeueAfter: time.Millisecond}, r.patch(ctx, b, func(s *raftv1alpha1.RaftBackupStatus) {
		s.Phase, s.Member, s.StartTime = raftv1alpha1.BackupRunning, src, &now
	})
}

// take streams, verifies and stores the snapshot, then completes.
func (r *Reconciler) take(ctx context.Context, b *raftv1alpha1.RaftBackup, rc *raftv1alpha1.RaftCluster) error {
	st, prefix, err := r.openStore(ctx, b.Namespace, b.Spec.Destination)
	if err != nil {
		return r.fail(ctx, b, err)
	}
	key := policy.ObjectKey(prefix, b.Namespace, rc.Name, b.Name, b.Status.StartTime.Time)
	conn, closeConn, err := r.Dial(nodeclient.Endpoint{Namespace: rc.Namespace, Service: specs.PeerServiceName(rc), Pod: b.Status.Member})
	if err != nil {
		return r.fail(ctx, b, err)
	}
	defer closeConn()
	tctx, cancel := context.WithTimeout(ctx, takeTimeout)
	defer cancel()
	info, err := Take(tctx, conn, st, key)
	if err != nil {
		return r.fail(ctx, b, fmt.Errorf("member %s: %w", b.Status.Member, err))
	}
	return r.complete(ctx, b, info, key, st.Location(key))
}

// complete records a stored, verified snapshot.
func (r *Reconciler) complete(ctx context.Context, b *raftv1alpha1.RaftBackup, info snapfile.Info, key, location string) error {
	now := metav1.NewTime(r.now())
	r.event(b, corev1.EventTypeNormal, "Completed", "Stored %s (%d bytes, applied index %d)", location, info.Size, info.AppliedIndex)
	if err := r.patch(ctx, b, func(s *raftv1alpha1.RaftBackupStatus) {
		s.Phase, s.CompletionTime, s.Error = raftv1alpha1.BackupCompleted, &now, ""
		s.ClusterID, s.AppliedIndex, s.Revision = fmt.Sprintf("%x", info.ClusterID), int64(info.AppliedIndex), info.Revision
		s.SizeBytes, s.Size = info.Size, resource.NewQuantity(info.Size, resource.BinarySI).String()
		s.SHA256, s.Key, s.Location = info.SHA256, key, location
	}); err != nil {
		return err
	}
	clustermetrics.ObserveBackup(b)
	return nil
}

// finalize deletes the stored file, then lets the object go.
func (r *Reconciler) finalize(ctx context.Context, b *raftv1alpha1.RaftBackup) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(b, FinalizerFile) {
		return ctrl.Result{}, nil
	}
	if b.Status.Key != "" && b.Spec.Destination.PVC != nil {
		var rc raftv1alpha1.RaftCluster
		image := ""
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.Cluster}, &rc); err == nil {
			image = rc.DesiredImage()
		}
		if image == "" {
			// The cluster is gone: its image is unknown, so the file
			// stays; say so rather than block the deletion forever.
			r.event(b, corev1.EventTypeWarning, "FileKept", "RaftCluster %s is gone; delete %s by hand", b.Spec.Cluster, b.Status.Location)
		} else {
			out, err := r.runAgent(ctx, b, image, agentDelete, b.Status.Key, "", "")
			switch {
			case err != nil:
				return ctrl.Result{}, err
			case out.failed:
				return ctrl.Result{}, fmt.Errorf("delete %s: job failed: %s", b.Status.Location, out.message)
			case !out.done:
				return ctrl.Result{RequeueAfter: waitForJob}, nil
			}
		}
	} else if b.Status.Key != "" {
		st, _, err := r.openStore(ctx, b.Namespace, b.Spec.Destination)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("delete the stored file of %s: %w", b.Name, err)
		}
		if err := st.Delete(ctx, b.Status.Key); err != nil {
			return ctrl.Result{}, err
		}
	}
	controllerutil.RemoveFinalizer(b, FinalizerFile)
	return ctrl.Result{}, r.Client.Update(ctx, b)
}

// fail records a final failure with its reason.
func (r *Reconciler) fail(ctx context.Context, b *raftv1alpha1.RaftBackup, cause error) error {
	now := metav1.NewTime(r.now())
	r.event(b, corev1.EventTypeWarning, "Failed", "%v", cause)
	if err := r.patch(ctx, b, func(s *raftv1alpha1.RaftBackupStatus) {
		s.Phase, s.Error, s.CompletionTime = raftv1alpha1.BackupFailed, cause.Error(), &now
	}); err != nil {
		return err
	}
	clustermetrics.BackupFailed(b.Namespace, b.Spec.Cluster)
	clustermetrics.ObserveBackup(b)
	return nil
}

// patch re-reads the backup, mutates its status and merge-patches it.
func (r *Reconciler) patch(ctx context.Context, b *raftv1alpha1.RaftBackup, mutate func(*raftv1alpha1.RaftBackupStatus)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur raftv1alpha1.RaftBackup
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(b), &cur); err != nil {
			return err
		}
		upd := cur.DeepCopy()
		mutate(&upd.Status)
		if err := r.Client.Status().Patch(ctx, upd, client.MergeFromWithOptions(&cur, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		b.Status = upd.Status
		return nil
	})
}

func (r *Reconciler) openStore(ctx context.Context, ns string, d raftv1alpha1.BackupDestination) (store.Store, string, error) {
	var secrets client.Reader = r.Client
	if r.Secrets != nil {
		secrets = r.Secrets
	}
	if r.Stores != nil {
		return r.Stores(ctx, secrets, ns, d)
	}
	return OpenStore(ctx, secrets, ns, d)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) event(b *raftv1alpha1.RaftBackup, kind, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(b, nil, kind, reason, reason, format, args...)
	}
}

// sourceMembers turns the cluster's observed members into policy input.
func sourceMembers(rc *raftv1alpha1.RaftCluster) []policy.Member {
	var out []policy.Member
	for _, m := range rc.Status.Members {
		out = append(out, policy.Member{
			Name: m.Name, Leader: m.Role == raftv1alpha1.RoleLeader, Learner: m.Role == raftv1alpha1.RoleLearner,
			Healthy: m.Healthy, Applied: uint64(max(m.AppliedIndex, 0)),
		})
	}
	return out
}

// OpenStore builds the store of an S3 destination, with the credentials
// (and CA bundle) from Secrets in namespace. PVC destinations are written
// by the agent Job instead (job.go).
func OpenStore(ctx context.Context, c client.Reader, ns string, d raftv1alpha1.BackupDestination) (store.Store, string, error) {
	if d.S3 == nil {
		return nil, "", errors.New("not an s3 destination")
	}
	creds, err := secretData(ctx, c, ns, d.S3.CredentialsSecret)
	if err != nil {
		return nil, "", err
	}
	cfg := store.S3Config{Endpoint: d.S3.Endpoint, Bucket: d.S3.Bucket, Region: d.S3.Region,
		AccessKey: string(creds[SecretAccessKeyID]), SecretKey: string(creds[SecretSecretAccessKey])}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, "", fmt.Errorf("secret %s/%s: keys %s and %s are required", ns, d.S3.CredentialsSecret, SecretAccessKeyID, SecretSecretAccessKey)
	}
	if d.S3.CABundle != nil {
		ca, err := secretData(ctx, c, ns, d.S3.CABundle.Name)
		if err != nil {
			return nil, "", err
		}
		if cfg.CAPEM = ca[d.S3.CABundle.Key]; len(cfg.CAPEM) == 0 {
			return nil, "", fmt.Errorf("secret %s/%s has no key %s", ns, d.S3.CABundle.Name, d.S3.CABundle.Key)
		}
	}
	st, err := store.NewS3(cfg)
	return st, d.S3.Prefix, err
}

func secretData(ctx context.Context, c client.Reader, ns, name string) (map[string][]byte, error) {
	var s corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, name, err)
	}
	return s.Data, nil
}

// GRPCDialer reaches a member through the operator's node client, so a
// backup uses the same connection, credentials (mutual TLS with the
// operator's certificate for that cluster) and keepalive as every other
// node call. The connection is the client's cached one: nothing to close.
func GRPCDialer(nodes interface {
	Conn(nodeclient.Endpoint) (grpc.ClientConnInterface, error)
}) Dialer {
	return func(ep nodeclient.Endpoint) (grpc.ClientConnInterface, func(), error) {
		cc, err := nodes.Conn(ep)
		if err != nil {
			return nil, nil, fmt.Errorf("dial member %s: %w", ep.Pod, err)
		}
		return cc, func() {}, nil
	}
}
