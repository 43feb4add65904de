package envtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/internal/kubetest"
	"github.com/kuberaft/kuberaft/internal/raftctl"
	"github.com/kuberaft/kuberaft/node/health"
)

// k8s is a client of the envtest API server every test shares.
var k8s client.Client

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), raftv1alpha1.AddToScheme(scheme)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return kubetest.Main(m, filepath.Join("..", "..", "..", "config", "crd", "bases"), scheme, &k8s)
}

// fakeMembers answers /status for the pods it knows and fails for the
// others; onCall runs after every call (the --watch test counts frames).
type fakeMembers struct {
	mu     sync.Mutex
	status map[string]*health.StatusJSON
	calls  int
	onCall func(calls int)
}

func (f *fakeMembers) Status(_ context.Context, _, pod string) (*health.StatusJSON, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.onCall != nil {
		defer f.onCall(f.calls)
	}
	if st, ok := f.status[pod]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("dial tcp %s:8080: connect: connection refused", pod)
}

// fixture creates namespace ns with RaftCluster kv (3 voters, kv-0 leads)
// and its pods, and returns a member client where kv-2 is unreachable.
func fixture(t *testing.T, ns string) *fakeMembers {
	t.Helper()
	ctx := context.Background()
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	rc := &raftv1alpha1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kv"},
		Spec:       raftv1alpha1.RaftClusterSpec{Version: "v1", Storage: raftv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}},
	}
	must(t, k8s.Create(ctx, rc))
	rc.Status = raftv1alpha1.RaftClusterStatus{Leader: "kv-0", FailureTolerance: 1, CurrentVersion: "v1",
		Conditions: []metav1.Condition{{Type: raftv1alpha1.ConditionAvailable, Status: metav1.ConditionTrue,
			Reason: raftv1alpha1.ReasonQuorumHealthy, Message: "ok", LastTransitionTime: metav1.Now()}}}
	members := &fakeMembers{status: map[string]*health.StatusJSON{}}
	for i := range 3 {
		name := fmt.Sprintf("kv-%d", i)
		role := raftv1alpha1.RoleFollower
		if i == 0 {
			role = raftv1alpha1.RoleLeader
		}
		rc.Status.Members = append(rc.Status.Members, raftv1alpha1.MemberStatus{Name: name, ID: fmt.Sprintf("%x", i+10), Role: role, Healthy: true})
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: specs.SelectorLabels(rc)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: specs.ContainerName, Image: "raftnode:v1"}}},
		}
		must(t, k8s.Create(ctx, pod))
		if i < 2 {
			members.status[name] = &health.StatusJSON{ID: uint64(i + 10), Name: name, Role: string(role), Term: 7,
				Commit: 42, Applied: 42, Leader: 10, Voters: []uint64{10, 11, 12}, Learners: []uint64{}}
		}
	}
	must(t, k8s.Status().Update(ctx, rc))
	return members
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// kubectlRaft runs one command line against envtest and the fake members.
func kubectlRaft(ctx context.Context, t *testing.T, ns string, members raftctl.MemberClient, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := raftctl.NewCommandWith(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		func() (*raftctl.Clients, error) {
			return &raftctl.Clients{Client: k8s, Members: members, Namespace: ns}, nil
		})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String() + errOut.String(), err
}

func TestStatusSaysWhichMemberIsUnreachable(t *testing.T) {
	members := fixture(t, "status")
	out, err := kubectlRaft(context.Background(), t, "status", members, "status", "kv")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Cluster:                  status/kv", "Phase:                    Healthy",
		"*  kv-0", "kv-2: dial tcp kv-2:8080: connect: connection refused", "kv-2  c   Follower  unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	out, err = kubectlRaft(context.Background(), t, "status", members, "status", "kv", "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r raftctl.Report
	must(t, json.Unmarshal([]byte(out), &r))
	if r.Leader != "kv-0" || r.Term != 7 || len(r.Members) != 3 || len(r.Unreachable) != 1 || r.Unreachable[0].Pod != "kv-2" {
		t.Errorf("json report: %+v", r)
	}
}

func TestStatusOfAMissingClusterFails(t *testing.T) {
	must(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "missing"}}))
	out, err := kubectlRaft(context.Background(), t, "missing", &fakeMembers{}, "status", "nope")
	if err == nil || !strings.Contains(err.Error(), "cannot get RaftCluster missing/nope") {
		t.Errorf("err = %v, out %s", err, out)
	}
}

// --watch prints a frame per refresh until interrupted; the fake member
// client interrupts it after the third frame (3 pods asked per frame).
func TestStatusWatchPrintsEveryFrame(t *testing.T) {
	members := fixture(t, "watch")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	members.onCall = func(calls int) {
		if calls == 9 {
			cancel()
		}
	}
	out, err := kubectlRaft(ctx, t, "watch", members, "status", "kv", "--watch", "--interval", "10ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := strings.Count(out, raftctl.FrameMarker); n < 2 || n > 3 {
		t.Errorf("%d frames, want 2 or 3 (the third may be cut by the interrupt):\n%s", n, out)
	}
}

func TestMoveLeaderAnnotatesTheCluster(t *testing.T) {
	members := fixture(t, "move")
	ctx := context.Background()
	if out, err := kubectlRaft(ctx, t, "move", members, "move-leader", "kv", "--to", "kv-9"); err == nil {
		t.Errorf("move to a non-member succeeded: %s", out)
	}
	out, err := kubectlRaft(ctx, t, "move", members, "move-leader", "kv", "--to", "kv-2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := getCluster(t, "move").Annotations[raftv1alpha1.AnnotationMoveLeader]; got != "kv-2" {
		t.Errorf("annotation = %q, want kv-2", got)
	}
}

// --wait returns once the operator removed the annotation; here a
// goroutine plays the operator.
func TestMoveLeaderWaitsForTheOperator(t *testing.T) {
	members := fixture(t, "movewait")
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- playOperator(ctx, "movewait", raftv1alpha1.AnnotationMoveLeader, "kv-1") }()
	out, err := kubectlRaft(ctx, t, "movewait", members, "move-leader", "kv", "--to", "kv-1", "--wait", "--timeout", "60s")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	must(t, <-done)
	if !strings.Contains(out, "Done: the leader is kv-1") {
		t.Errorf("output:\n%s", out)
	}
}

// playOperator waits for the annotation, then sets status.leader and
// removes it, as the operator's reconcileRequests does.
func playOperator(ctx context.Context, ns, key, leader string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		rc := &raftv1alpha1.RaftCluster{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kv"}, rc); err != nil {
			return err
		}
		if _, ok := rc.Annotations[key]; ok {
			rc.Status.Leader = leader
			if err := k8s.Status().Update(ctx, rc); err != nil {
				return err
			}
			delete(rc.Annotations, key)
			return k8s.Update(ctx, rc)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestRestartAnnotatesTheMembersCluster(t *testing.T) {
	members := fixture(t, "restart")
	out, err := kubectlRaft(context.Background(), t, "restart", members, "restart", "kv-1")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := getCluster(t, "restart").Annotations[raftv1alpha1.AnnotationRestart]; got != "kv-1" {
		t.Errorf("annotation = %q, want kv-1", got)
	}
}

func TestPauseAndResume(t *testing.T) {
	members := fixture(t, "pause")
	for _, tc := range []struct {
		cmd  string
		want bool
	}{{"pause", true}, {"resume", false}} {
		if out, err := kubectlRaft(context.Background(), t, "pause", members, tc.cmd, "kv"); err != nil {
			t.Fatalf("%s: %v\n%s", tc.cmd, err, out)
		}
		if got := getCluster(t, "pause").Spec.Paused; got != tc.want {
			t.Errorf("after %s spec.paused = %v", tc.cmd, got)
		}
	}
}

func getCluster(t *testing.T, ns string) *raftv1alpha1.RaftCluster {
	t.Helper()
	rc := &raftv1alpha1.RaftCluster{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "kv"}, rc))
	return rc
}

// With no running member there is nothing to forward to: a clear error,
// and etcdctl is not started.
func TestEtcdctlNeedsARunningMember(t *testing.T) {
	members := fixture(t, "etcdctl")
	out, err := kubectlRaft(context.Background(), t, "etcdctl", members, "etcdctl", "kv", "--etcdctl", "/nonexistent/etcdctl", "--", "endpoint", "status")
	if err == nil || !strings.Contains(err.Error(), "no member of etcdctl/kv could be port-forwarded") {
		t.Fatalf("err = %v, out:\n%s", err, out)
	}
	if !strings.Contains(out, "skipping kv-0: pod is Pending") {
		t.Errorf("the skipped members are not named:\n%s", out)
	}
}

// `backup` creates a RaftBackup with the destination asked for; --wait
// returns the outcome once the operator (a goroutine here) finishes it,
// and `status` then shows it as the last backup.
func TestBackupCreatesARaftBackupAndWaits(t *testing.T) {
	members := fixture(t, "backup")
	ctx := context.Background()
	if out, err := kubectlRaft(ctx, t, "backup", members, "backup", "kv", "--destination-from-schedule"); err == nil ||
		!strings.Contains(err.Error(), "no spec.backup") {
		t.Errorf("--destination-from-schedule without spec.backup: err %v\n%s", err, out)
	}
	if out, err := kubectlRaft(ctx, t, "backup", members, "backup", "kv"); err == nil {
		t.Errorf("no destination accepted:\n%s", out)
	}
	done := make(chan error, 1)
	go func() { done <- playBackupOperator(ctx, "backup") }()
	out, err := kubectlRaft(ctx, t, "backup", members, "backup", "kv", "--pvc", "snaps", "--pvc-prefix", "kv", "--wait", "--timeout", "60s")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	must(t, <-done)
	if !strings.Contains(out, "phase Completed, size 1.5Mi") {
		t.Errorf("output:\n%s", out)
	}
	list := &raftv1alpha1.RaftBackupList{}
	must(t, k8s.List(ctx, list, client.InNamespace("backup")))
	if len(list.Items) != 1 {
		t.Fatalf("%d RaftBackups, want 1", len(list.Items))
	}
	b := list.Items[0]
	if pvc := b.Spec.Destination.PVC; b.Spec.Cluster != "kv" || pvc == nil || pvc.ClaimName != "snaps" || pvc.Prefix != "kv" {
		t.Errorf("spec = %+v", b.Spec)
	}
	out, err = kubectlRaft(ctx, t, "backup", members, "status", "kv")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Last backup: "+b.Name+", Completed") {
		t.Errorf("status does not show the backup:\n%s", out)
	}
}

// A Failed backup makes --wait fail with the backup's error.
func TestBackupWaitReportsFailure(t *testing.T) {
	members := fixture(t, "backupfail")
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- playBackupOperator(ctx, "backupfail") }()
	out, err := kubectlRaft(ctx, t, "backupfail", members, "backup", "kv", "--s3-bucket", "failing", "--s3-endpoint", "https://s3.test:9000",
		"--s3-credentials", "creds", "--wait", "--timeout", "60s")
	must(t, <-done)
	if err == nil || !strings.Contains(err.Error(), "bucket does not exist") || !strings.Contains(out, "phase Failed") {
		t.Errorf("err %v, output:\n%s", err, out)
	}
}

// playBackupOperator waits for the namespace's RaftBackup and finishes it
// as the backup controller would: Failed for bucket "failing", else
// Completed.
func playBackupOperator(ctx context.Context, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		list := &raftv1alpha1.RaftBackupList{}
		if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			b := &list.Items[0]
			now := metav1.Now()
			b.Status = raftv1alpha1.RaftBackupStatus{Phase: raftv1alpha1.BackupCompleted, Size: "1.5Mi", SizeBytes: 1572864,
				SHA256: strings.Repeat("ab", 32), Location: "pvc://snaps/kv/x.snap", StartTime: &now, CompletionTime: &now}
			if s3 := b.Spec.Destination.S3; s3 != nil && s3.Bucket == "failing" {
				b.Status = raftv1alpha1.RaftBackupStatus{Phase: raftv1alpha1.BackupFailed, Error: "bucket does not exist", CompletionTime: &now}
			}
			return k8s.Status().Update(ctx, b)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
