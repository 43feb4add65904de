//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/test/e2e/e2echeck"
)

// The S3 server's credentials (a Secret in the scenario's namespace that
// both the server and the RaftBackups read) and bucket.
const (
	s3AccessKey = "kuberaft-e2e"
	s3SecretKey = "kuberaft-e2e-secret"
	s3Bucket    = "backups"
	s3Port      = 9000
)

// s3Server is a real S3-compatible server (MinIO, built from its Go module
// by hack/build-tools.sh) running in a scenario's namespace.
type s3Server struct {
	url    string // as pods (the operator) reach it
	client *minio.Client
}

// testBackups runs the backup scenarios in parallel, each in its own
// namespace with its own S3 server: the scheduled one mostly waits for
// cron slots.
func testBackups(t *testing.T) {
	t.Run("backup-restore", func(t *testing.T) { t.Parallel(); testBackupRestore(t) })
	t.Run("scheduled-backups", func(t *testing.T) { t.Parallel(); testScheduledBackups(t) })
}

// deployS3 starts the server, waits until it answers from the host and
// creates the bucket.
//
// The host talks to the server's pod IP, not its Service: CI once saw the
// Service's ClusterIP answer every request for two minutes with a plain
// 404 (minio-go reports that as "The specified bucket does not exist"),
// i.e. another server. The offline cluster's service range is a /24 that
// the suite's many short-lived Services reuse, and the host's route to a
// reused ClusterIP depends on kube-proxy having caught up. The operator's
// pods still use the Service's name, as users do.
func (s *suite) deployS3(t *testing.T, ns string) *s3Server {
	t.Helper()
	image := strings.TrimSpace(s.mustRun(t, "hack/build-tools.sh", "print-minio-image"))
	s.mustKubectl(t, s3Manifest(ns, image), "apply", "-f", "-")
	s.waitDeploymentAvailable(t, ns, "s3", 3*time.Minute)
	var podIP string
	eventually(t, time.Minute, time.Second, "the S3 server's pod IP", func(ctx context.Context) (bool, string) {
		var pods corev1.PodList
		if err := s.c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "s3"}); err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(&p) {
				podIP = p.Status.PodIP
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pods, none ready with an IP", len(pods.Items))
	})
	cli, err := minio.New(net.JoinHostPort(podIP, fmt.Sprint(s3Port)), &minio.Options{
		Creds: credentials.NewStaticV4(s3AccessKey, s3SecretKey, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, time.Second, "bucket "+s3Bucket+" created", func(ctx context.Context) (bool, string) {
		err := cli.MakeBucket(ctx, s3Bucket, minio.MakeBucketOptions{Region: "us-east-1"})
		if resp := minio.ToErrorResponse(err); err != nil && resp.Code != "BucketAlreadyOwnedByYou" {
			// Say who answered: a non-S3 server's 404 reads as NoSuchBucket.
			return false, fmt.Sprintf("%v (HTTP %d, server %q)", err, resp.StatusCode, resp.Server)
		}
		return true, ""
	})
	return &s3Server{url: fmt.Sprintf("http://s3.%s.svc:%d", ns, s3Port), client: cli}
}

func s3Manifest(ns, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: s3-creds, namespace: %[1]s}
stringData: {accessKeyID: %[3]s, secretAccessKey: %[4]s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: s3, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: s3}}
  template:
    metadata: {labels: {app: s3}}
    spec:
      # The namespace enforces the restricted Pod Security profile.
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: minio
        image: %[2]s
        imagePullPolicy: IfNotPresent
        args: [server, /data, --address, ":%[5]d", --console-address, ":9001"]
        env:
        - {name: HOME, value: /data}
        - {name: MINIO_BROWSER, value: "off"}
        - {name: MINIO_UPDATE, value: "off"}
        - {name: MINIO_ROOT_USER, valueFrom: {secretKeyRef: {name: s3-creds, key: accessKeyID}}}
        - {name: MINIO_ROOT_PASSWORD, valueFrom: {secretKeyRef: {name: s3-creds, key: secretAccessKey}}}
        ports: [{containerPort: %[5]d}]
        readinessProbe: {httpGet: {path: /minio/health/ready, port: %[5]d}, periodSeconds: 2}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
        resources: {requests: {cpu: 50m, memory: 128Mi}, limits: {cpu: "1", memory: 512Mi}}
        volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: s3, namespace: %[1]s}
spec:
  selector: {app: s3}
  ports: [{name: s3, port: %[5]d, targetPort: %[5]d}]
`, ns, image, s3AccessKey, s3SecretKey, s3Port)
}

// s3Destination is a RaftBackup destination on srv, as YAML at indent.
func s3Destination(srv *s3Server, prefix, indent string) string {
	return fmt.Sprintf("%[1]ss3: {endpoint: %[2]q, bucket: %[3]s, prefix: %[4]s, credentialsSecret: s3-creds}\n", indent, srv.url, s3Bucket, prefix)
}

// mustRun runs a repository script and returns its output.
func (s *suite) mustRun(t *testing.T, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.run(ctx, "", s.root+"/"+script, args...)
	if err != nil {
		t.Fatalf("%s %v: %v", script, args, err)
	}
	return out
}

// applyClusterWith creates a RaftCluster whose spec has extra (YAML at
// two spaces' indent) after the usual fields.
func (s *suite) applyClusterWith(t *testing.T, ns, name string, replicas int, extra string) *raftCluster {
	t.Helper()
	s.mustKubectl(t, clusterManifest(ns, name, replicas, s.tagA)+extra, "apply", "-f", "-")
	rc := &raftCluster{s: s, ns: ns, name: name}
	rc.d = newNodeDialer(rc.podTLS)
	t.Cleanup(rc.d.close)
	return rc
}

// waitBackup waits until RaftBackup name completed (failing on Failed).
func (s *suite) waitBackup(t *testing.T, ns, name string, timeout time.Duration) *raftv1.RaftBackup {
	t.Helper()
	var b raftv1.RaftBackup
	eventually(t, timeout, time.Second, "RaftBackup "+name+" Completed", func(ctx context.Context) (bool, string) {
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &b); err != nil {
			return false, err.Error()
		}
		if b.Status.Phase == raftv1.BackupFailed {
			t.Fatalf("RaftBackup %s failed: %s", name, b.Status.Error)
		}
		return b.Status.Phase == raftv1.BackupCompleted, fmt.Sprintf("phase %q", b.Status.Phase)
	})
	return &b
}

// deleteBackupsFirst deletes the namespace's RaftBackups (their finalizers
// delete the stored files) while the S3 server still runs: the namespace's
// deletion would otherwise take the server first and leave the
// finalizers retrying against nothing. A failed scenario keeps its
// namespace as it is, for the dump.
func (s *suite) deleteBackupsFirst(t *testing.T, ns string, clusters ...string) {
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, c := range clusters { // a schedule would create more
			_ = s.c.Delete(ctx, &raftv1.RaftCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c}})
		}
		_ = s.c.DeleteAllOf(ctx, &raftv1.RaftBackup{}, client.InNamespace(ns))
		if err := poll(2*time.Minute, time.Second, func(ctx context.Context) (bool, string) {
			var l raftv1.RaftBackupList
			if err := s.c.List(ctx, &l, client.InNamespace(ns)); err != nil {
				return false, err.Error()
			}
			return len(l.Items) == 0, fmt.Sprintf("%d RaftBackups left", len(l.Items))
		}); err != nil {
			t.Logf("RaftBackups of %s not deleted: %v", ns, err)
		}
	})
}

// deleteClusterAndPods deletes a RaftCluster and waits until its pods are
// gone.
func (s *suite) deleteClusterAndPods(t *testing.T, ns, name string) {
	t.Helper()
	s.mustKubectl(t, "", "-n", ns, "delete", "raftcluster", name, "--wait=true", "--timeout=2m")
	eventually(t, 2*time.Minute, time.Second, name+"'s pods gone", func(ctx context.Context) (bool, string) {
		pods, err := s.pods(ctx, ns)
		return err == nil && len(pods) == 0, fmt.Sprintf("%d pods (%v)", len(pods), err)
	})
}

// ackedBefore copies the workload's acknowledged fresh writes (outcome
// certain) as of now.
func (w *workload) ackedBefore() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for k, v := range w.acked {
		if !w.uncertain[k] {
			out[k] = v
		}
	}
	return out
}

// readPrefix reads every key under prefix through endpoint.
func readPrefix(t *testing.T, endpoint, prefix string) map[string]string {
	t.Helper()
	cli, err := newEtcdClient(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("read %s through %s: %v", prefix, endpoint, err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// objectSHA256 downloads key and hashes it.
func (srv *s3Server) objectSHA256(t *testing.T, key string) (string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj, err := srv.client.GetObject(ctx, s3Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = obj.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		t.Fatalf("download s3://%s/%s: %v", s3Bucket, key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// objects lists the keys under prefix.
func (srv *s3Server) objects(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range srv.client.ListObjects(ctx, s3Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys, nil
}

// checkRestored checks a restored cluster: Restored is True, every write
// acknowledged before the backup is there with its value, and no member
// ID of the source is reused.
func (sc *scenario) checkRestored(rc *raftCluster, snap []e2echeck.Sample, before map[string]string, srcIDs map[uint64]bool) {
	t := sc.t
	t.Helper()
	obj, err := rc.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := meta.FindStatusCondition(obj.Status.Conditions, raftv1.ConditionRestored); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("%s: Restored = %+v, want True", rc.name, c)
	}
	final := readPrefix(t, rc.clientEndpoint(t), "bk/fresh/")
	if lost := e2echeck.LostWrites(before, final); len(lost) > 0 {
		t.Errorf("%s: %d writes acknowledged before the backup are missing, e.g. %v", rc.name, len(lost), lost[:min(len(lost), 10)])
	}
	for _, smp := range snap {
		if srcIDs[smp.ID] {
			t.Errorf("%s: member %s reuses the source's member ID %x", rc.name, smp.Pod, smp.ID)
		}
	}
	sc.figure("%s: %d/%d pre-backup writes present, %d keys, new member IDs", rc.name, len(before)-len(e2echeck.LostWrites(before, final)), len(before), len(final))
}

// testBackupRestore: writes under load, a RaftBackup to S3 and one to a
// PVC, the source deleted, then one restore from each into a new cluster:
// every write acknowledged before the backups were requested is present,
// the stored file's sha256 is the recorded one, the member IDs are new.
func testBackupRestore(t *testing.T) {
	s := env
	sc := s.newScenario(t, "backup-restore")
	s3Begin := time.Now()
	srv := s.deployS3(t, sc.ns)
	sc.figure("S3 server (MinIO) ready with its bucket in %s", time.Since(s3Begin).Round(100*time.Millisecond))
	s.deleteBackupsFirst(t, sc.ns)
	s.mustKubectl(t, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: backups, namespace: %s}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 128Mi}}}
`, sc.ns), "apply", "-f", "-")

	src := s.applyCluster(t, sc.ns, "src", 3, s.tagA)
	snap := src.waitConverged(t, 3, 5*time.Minute)
	srcIDs := map[uint64]bool{}
	for _, smp := range snap {
		srcIDs[smp.ID] = true
	}
	w := startLoad(t, src.clientEndpoint(t), "bk")
	eventually(t, time.Minute, time.Second, "writes acknowledged under load", func(context.Context) (bool, string) {
		n := len(w.ackedBefore())
		return n >= 50, fmt.Sprintf("%d acknowledged", n)
	})
	before := w.ackedBefore()
	s.mustKubectl(t, fmt.Sprintf(`apiVersion: raft.kuberaft.io/v1alpha1
kind: RaftBackup
metadata: {name: to-s3, namespace: %[1]s}
spec:
  cluster: src
  destination:
%[2]s---
apiVersion: raft.kuberaft.io/v1alpha1
kind: RaftBackup
metadata: {name: to-pvc, namespace: %[1]s}
spec:
  cluster: src
  destination:
    pvc: {claimName: backups, prefix: pvc}
`, sc.ns, s3Destination(srv, "manual", "    ")), "apply", "-f", "-")
	begin := time.Now()
	toS3 := s.waitBackup(t, sc.ns, "to-s3", 3*time.Minute)
	toPVC := s.waitBackup(t, sc.ns, "to-pvc", 3*time.Minute)
	sc.figure("2 backups under load in %s (s3 %s from %s at revision %d; pvc %s from %s)", time.Since(begin).Round(100*time.Millisecond),
		toS3.Status.Size, toS3.Status.Member, toS3.Status.Revision, toPVC.Status.Size, toPVC.Status.Member)
	w.halt()
	sum, size := srv.objectSHA256(t, toS3.Status.Key)
	if sum != toS3.Status.SHA256 || size != toS3.Status.SizeBytes {
		t.Fatalf("s3://%s/%s has sha256 %s (%d bytes); the RaftBackup recorded %s (%d bytes)", s3Bucket, toS3.Status.Key, sum, size, toS3.Status.SHA256, toS3.Status.SizeBytes)
	}
	sc.figure("stored object sha256 = recorded (%s…)", sum[:12])

	s.deleteClusterAndPods(t, sc.ns, "src")

	// One restored cluster at a time: the suite's node helpers take every
	// RaftCluster pod of the namespace for the cluster under test.
	begin = time.Now()
	fromS3 := s.applyClusterWith(t, sc.ns, "from-s3", 3, "  bootstrap:\n    restore: {backup: to-s3}\n")
	snapS3 := fromS3.waitConverged(t, 3, 6*time.Minute)
	sc.figure("restored from S3 (by RaftBackup name) into 3 voters in %s", time.Since(begin).Round(100*time.Millisecond))
	sc.checkRestored(fromS3, snapS3, before, srcIDs)
	s.deleteClusterAndPods(t, sc.ns, "from-s3")

	begin = time.Now()
	fromPVC := s.applyClusterWith(t, sc.ns, "from-pvc", 1, fmt.Sprintf("  bootstrap:\n    restore:\n      key: %s\n      sha256: %s\n      destination:\n        pvc: {claimName: backups}\n",
		toPVC.Status.Key, toPVC.Status.SHA256))
	snapPVC := fromPVC.waitConverged(t, 1, 4*time.Minute)
	sc.figure("restored from the PVC (destination + key + sha256) in %s", time.Since(begin).Round(100*time.Millisecond))
	sc.checkRestored(fromPVC, snapPVC, before, srcIDs)
}

// testScheduledBackups: a schedule every minute with keepLast 2 keeps
// exactly two finished RaftBackups and two stored objects once three or
// more slots ran.
func testScheduledBackups(t *testing.T) {
	s := env
	sc := s.newScenario(t, "scheduled-backups")
	s3Begin := time.Now()
	srv := s.deployS3(t, sc.ns)
	sc.figure("S3 server (MinIO) ready with its bucket in %s", time.Since(s3Begin).Round(100*time.Millisecond))
	s.deleteBackupsFirst(t, sc.ns, "sched")
	rc := s.applyClusterWith(t, sc.ns, "sched", 1, "  backup:\n    schedule: \"* * * * *\"\n    retention: {keepLast: 2}\n    destination:\n"+
		s3Destination(srv, "sched", "      "))
	rc.waitConverged(t, 1, 3*time.Minute)
	putGet(t, rc.clientEndpoint(t), "sched/hello", "world")
	seen := map[string]bool{}
	var kept, objects []string
	begin := time.Now()
	eventually(t, 6*time.Minute, 2*time.Second, "three scheduled runs, then exactly 2 backups kept", func(ctx context.Context) (bool, string) {
		var l raftv1.RaftBackupList
		if err := s.c.List(ctx, &l, client.InNamespace(sc.ns), client.MatchingLabels{"raft.kuberaft.io/scheduled": "true"}); err != nil {
			return false, err.Error()
		}
		kept = kept[:0]
		for _, b := range l.Items {
			seen[b.Name] = true
			if b.Status.Phase != raftv1.BackupCompleted || !b.DeletionTimestamp.IsZero() {
				return false, fmt.Sprintf("%s is %q", b.Name, b.Status.Phase)
			}
			kept = append(kept, b.Name)
		}
		var err error
		if objects, err = srv.objects(ctx, "sched/"); err != nil {
			return false, err.Error()
		}
		return len(seen) >= 3 && len(kept) == 2 && len(objects) == 2,
			fmt.Sprintf("%d runs seen, %d kept %v, %d objects %v", len(seen), len(kept), kept, len(objects), objects)
	})
	all := make([]string, 0, len(seen))
	for n := range seen {
		all = append(all, n)
	}
	slices.Sort(all) // <cluster>-<unix slot>: the same width, so sorted by slot
	if newest := all[len(all)-2:]; !slices.Equal(newest, sortedCopy(kept)) {
		t.Errorf("kept %v, want the two newest %v", kept, newest)
	}
	sc.figure("%d runs in %s; kept %v; %d objects", len(all), time.Since(begin).Round(time.Second), kept, len(objects))
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
