package raftctl

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/node/health"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// now is the fixed clock of every golden case.
var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Raft IDs of the fixture members kv-0 .. kv-4.
var ids = []uint64{0x8e9e05c52164694d, 0x91bc3c398fb3c146, 0xfd422379fda50e48, 0x2b8a1a5f0f1c2d3e, 0x3c9b2b6f1f2d3e4f}

func cond(t, s, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(s), Reason: reason, Message: msg}
}

// healthyInputs is a 3-voter cluster where every member answers.
func healthyInputs() Inputs {
	rc := &raftv1alpha1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "kv"},
		Spec:       raftv1alpha1.RaftClusterSpec{Version: "v1"},
		Status: raftv1alpha1.RaftClusterStatus{
			Leader: "kv-0", CurrentVersion: "v1", FailureTolerance: 1, Replicas: 3, ReadyReplicas: 3,
			Conditions: []metav1.Condition{
				cond(raftv1alpha1.ConditionAvailable, "True", raftv1alpha1.ReasonQuorumHealthy, "3 of 3 voters healthy"),
				cond(raftv1alpha1.ConditionProgressing, "False", raftv1alpha1.ReasonReconciled, "the cluster matches the spec"),
				cond(raftv1alpha1.ConditionDegraded, "False", raftv1alpha1.ReasonMembersHealthy, "every member is healthy"),
			},
		},
	}
	in := Inputs{Cluster: rc, Live: map[string]*health.StatusJSON{}, LiveErrors: map[string]error{}, Now: now,
		PDB: &policyv1.PodDisruptionBudget{Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}}
	for i := range 3 {
		addMember(&in, i, raftv1alpha1.RoleFollower, 120)
	}
	setRole(&in, 0, raftv1alpha1.RoleLeader)
	in.Events = []eventsv1.Event{
		event("Normal", "AddLearners", "Add learners kv-2", now.Add(-10*time.Minute)),
		event("Normal", "Promote", "Promote learners kv-2", now.Add(-9*time.Minute)),
	}
	return in
}

func name(i int) string { return "kv-" + string(rune('0'+i)) }

// addMember adds member i with its pod, status entry and live answer.
func addMember(in *Inputs, i int, role raftv1alpha1.MemberRole, index uint64) {
	rc := in.Cluster
	rc.Status.Members = append(rc.Status.Members, raftv1alpha1.MemberStatus{Name: name(i), ID: hexID(i), Role: role,
		Healthy: true, Term: 4, CommitIndex: int64(index), AppliedIndex: int64(index), Version: "v1"})
	in.Pods = append(in.Pods, corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: rc.Namespace, Name: name(i)},
		Spec:       corev1.PodSpec{NodeName: "node-" + string(rune('a'+i))},
		Status:     corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{RestartCount: int32(i % 2)}}},
	})
	in.Live[name(i)] = &health.StatusJSON{ID: ids[i], Name: name(i), Role: string(role), Leader: ids[0], Term: 4,
		Commit: index, Applied: index, Version: "v1"}
	leader := in.Live[name(0)]
	if role == raftv1alpha1.RoleLearner {
		leader.Learners = append(leader.Learners, ids[i])
	} else {
		leader.Voters = append(leader.Voters, ids[i])
	}
}

func setRole(in *Inputs, i int, role raftv1alpha1.MemberRole) {
	in.Cluster.Status.Members[i].Role = role
	in.Live[name(i)].Role = string(role)
}

func hexID(i int) string {
	return fmt.Sprintf("%x", ids[i])
}

func event(typ, reason, note string, at time.Time) eventsv1.Event {
	return eventsv1.Event{Type: typ, Reason: reason, Note: note, EventTime: metav1.NewMicroTime(at),
		Regarding: corev1.ObjectReference{Kind: "RaftCluster", Name: "kv"}}
}

// The cases the issue names, each a small change to the healthy cluster.
func goldenCases() map[string]Inputs {
	cases := map[string]Inputs{"healthy": healthyInputs()}

	noLeader := healthyInputs()
	noLeader.Cluster.Status.Leader = ""
	noLeader.Cluster.Status.FailureTolerance = 0
	noLeader.Cluster.Status.Conditions[0] = cond(raftv1alpha1.ConditionAvailable, "False", raftv1alpha1.ReasonNoLeader, "no member knows a leader")
	for i := range 3 {
		setRole(&noLeader, i, raftv1alpha1.RoleFollower)
		noLeader.Live[name(i)].Leader = 0
	}
	noLeader.Events = append(noLeader.Events, event("Warning", "PromoteDeferred", "no leader", now.Add(-5*time.Second)))
	cases["leader-missing"] = noLeader

	// Scaling 3 -> 5: two learners added, one of them still catching up.
	learners := healthyInputs()
	addMember(&learners, 3, raftv1alpha1.RoleLearner, 120)
	addMember(&learners, 4, raftv1alpha1.RoleLearner, 40)
	learners.Cluster.Status.Operation = &raftv1alpha1.Operation{Type: raftv1alpha1.OperationScaleOut,
		Targets: []string{"kv-3", "kv-4"}, Step: "AddLearners", StartedAt: metav1.NewTime(now.Add(-75 * time.Second))}
	learners.Cluster.Status.Conditions[1] = cond(raftv1alpha1.ConditionProgressing, "True", raftv1alpha1.ReasonWaitingLearners, "kv-4 is 80 entries behind")
	cases["learner-catching-up"] = learners

	// The promotion of both learners, in its joint configuration.
	joint := healthyInputs()
	addMember(&joint, 3, raftv1alpha1.RoleFollower, 130)
	addMember(&joint, 4, raftv1alpha1.RoleFollower, 130)
	leader := joint.Live[name(0)]
	leader.Joint, leader.VotersOutgoing = true, []uint64{ids[0], ids[1], ids[2]}
	joint.Cluster.Status.Joint = true
	joint.Cluster.Status.Operation = &raftv1alpha1.Operation{Type: raftv1alpha1.OperationScaleOut,
		Targets: []string{"kv-3", "kv-4"}, Step: "Promote", StartedAt: metav1.NewTime(now.Add(-2 * time.Minute))}
	joint.Cluster.Status.Conditions[1] = cond(raftv1alpha1.ConditionProgressing, "True", raftv1alpha1.ReasonWaitingJoint, "the configuration is joint")
	cases["joint"] = joint

	unreachable := healthyInputs()
	delete(unreachable.Live, "kv-2")
	unreachable.LiveErrors["kv-2"] = errors.New(`GET /status through the pod proxy: the server is currently unable to handle the request (get pods http:kv-2:8080)`)
	unreachable.Cluster.Status.Members[2].Healthy = false
	unreachable.Cluster.Status.Conditions[2] = cond(raftv1alpha1.ConditionDegraded, "True", raftv1alpha1.ReasonMembersUnhealthy, "kv-2 is unhealthy")
	unreachable.PDB.Status.DisruptionsAllowed = 0
	unreachable.Cluster.Status.FailureTolerance = 0
	cases["member-unreachable"] = unreachable

	moving := healthyInputs()
	moving.Cluster.Status.Operation = &raftv1alpha1.Operation{Type: raftv1alpha1.OperationUpgrade,
		Targets: []string{"kv-0"}, Step: "MoveLeader", StartedAt: metav1.NewTime(now.Add(-3*time.Minute - 4*time.Second))}
	moving.Cluster.Status.Conditions[1] = cond(raftv1alpha1.ConditionProgressing, "True", raftv1alpha1.ReasonMovingLeader, "moving leadership off kv-0 before its upgrade")
	cases["operation-in-flight"] = moving

	// TLS on: one certificate inside the CertificatesReady warning window,
	// one unreadable; two backups, the newer one completed.
	tls := healthyInputs()
	tls.Cluster.Status.Certificates = []raftv1alpha1.CertificateStatus{
		{SecretName: "kv-peer-tls", NotAfter: metav1.NewTime(now.Add(90 * 24 * time.Hour))},
		{SecretName: "kv-client-tls", NotAfter: metav1.NewTime(now.Add(3*24*time.Hour + 30*time.Minute))},
		{SecretName: "kv-ca", Error: "secret not found"},
	}
	tls.Cluster.Status.Conditions = append(tls.Cluster.Status.Conditions, cond(raftv1alpha1.ConditionCertificatesReady, "False",
		raftv1alpha1.ReasonCertificatesInvalid, "kv-ca: secret not found"))
	tls.Backups = []raftv1alpha1.RaftBackup{
		backup("kv-1764324000", now.Add(-2*time.Hour), raftv1alpha1.RaftBackupStatus{Phase: raftv1alpha1.BackupFailed, Error: "no healthy member"}),
		backup("kv-1764327600", now.Add(-time.Hour), raftv1alpha1.RaftBackupStatus{Phase: raftv1alpha1.BackupCompleted,
			Size: "1.5Mi", SizeBytes: 1572864, Location: "s3://backups/demo/kv/kv-1764327600.snap"}),
	}
	cases["certificates-and-backup"] = tls
	return cases
}

func backup(name string, created time.Time, st raftv1alpha1.RaftBackupStatus) raftv1alpha1.RaftBackup {
	return raftv1alpha1.RaftBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec: raftv1alpha1.RaftBackupSpec{Cluster: "kv"}, Status: st}
}

func TestRenderGolden(t *testing.T) {
	for name, in := range goldenCases() {
		for _, format := range []string{OutputText, OutputJSON, OutputYAML} {
			ext := map[string]string{OutputText: "txt", OutputJSON: "json", OutputYAML: "yaml"}[format]
			t.Run(name+"/"+ext, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, Build(in), format, now); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", name+"."+ext), buf.Bytes())
			})
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./internal/raftctl -run TestRenderGolden -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering; got:\n%s\nwant:\n%s", path, got, want)
	}
}

// Backups that cannot be listed (no RBAC) are reported as unknown, not as
// "none", and the rest of the screen is still there.
func TestRenderBackupsUnknown(t *testing.T) {
	in := healthyInputs()
	in.BackupsError = errors.New(`cannot list RaftBackups: raftbackups.raft.kuberaft.io is forbidden`)
	var buf bytes.Buffer
	if err := Render(&buf, Build(in), OutputText, now); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "Last backup: unknown (cannot list RaftBackups: raftbackups.raft.kuberaft.io is forbidden)") ||
		strings.Contains(out, "Last backup: none") || !strings.Contains(out, "Members:") {
		t.Errorf("output:\n%s", out)
	}
}
