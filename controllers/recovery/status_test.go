package recovery

import (
	"errors"
	"testing"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/recovery/planner"
)

func cluster(members ...raftv1alpha1.MemberStatus) *raftv1alpha1.RaftCluster {
	rc := &raftv1alpha1.RaftCluster{}
	rc.Status.Members = members
	return rc
}

func member(name string, role raftv1alpha1.MemberRole, healthy bool, commit int64) raftv1alpha1.MemberStatus {
	return raftv1alpha1.MemberStatus{Name: name, Role: role, Healthy: healthy, Term: 2, CommitIndex: commit, AppliedIndex: commit}
}

var allVolumes = map[string]bool{"c-0": true, "c-1": true, "c-2": true, "c-3": true}

func TestStatus(t *testing.T) {
	preview := &raftv1alpha1.RecoverySpec{Mode: raftv1alpha1.RecoveryPreview}
	tests := []struct {
		name         string
		rc           *raftv1alpha1.RaftCluster
		volumes      map[string]bool
		prev         *raftv1alpha1.RecoveryStatus
		spec         *raftv1alpha1.RecoverySpec
		wantLost     bool
		wantObserved int64
		wantSurvivor string
		wantAtRisk   int64
		wantErr      error
	}{
		{name: "healthy: tracks the highest commit", volumes: allVolumes,
			rc:   cluster(member("c-0", raftv1alpha1.RoleLeader, true, 100), member("c-1", raftv1alpha1.RoleFollower, true, 98), member("c-2", raftv1alpha1.RoleFollower, false, 90)),
			prev: &raftv1alpha1.RecoveryStatus{LastObservedCommit: 80}, wantObserved: 100},
		{name: "healthy: never goes back", volumes: allVolumes,
			rc:   cluster(member("c-0", raftv1alpha1.RoleLeader, true, 10), member("c-1", raftv1alpha1.RoleFollower, true, 10), member("c-2", raftv1alpha1.RoleFollower, true, 10)),
			prev: &raftv1alpha1.RecoveryStatus{LastObservedCommit: 80}, wantObserved: 80},
		{name: "bootstrapping: no voter has committed yet, nothing is lost", volumes: map[string]bool{},
			rc:   cluster(member("c-0", raftv1alpha1.RoleFollower, false, 0), member("c-1", raftv1alpha1.RoleFollower, false, 0), member("c-2", raftv1alpha1.RoleFollower, false, 0)),
			spec: preview},
		{name: "quorum lost, no recovery requested: reported, no plan", volumes: allVolumes,
			rc:   cluster(member("c-0", raftv1alpha1.RoleFollower, true, 95), member("c-1", raftv1alpha1.RoleFollower, false, 0), member("c-2", raftv1alpha1.RoleFollower, false, 0)),
			prev: &raftv1alpha1.RecoveryStatus{LastObservedCommit: 100}, wantLost: true, wantObserved: 100},
		{name: "preview: survivor and at-risk", volumes: map[string]bool{"c-0": true, "c-1": true},
			rc:   cluster(member("c-0", raftv1alpha1.RoleFollower, true, 95), member("c-1", raftv1alpha1.RoleFollower, true, 97), member("c-2", raftv1alpha1.RoleFollower, false, 0), member("c-3", raftv1alpha1.RoleFollower, false, 0), member("c-4", raftv1alpha1.RoleFollower, false, 0)),
			prev: &raftv1alpha1.RecoveryStatus{LastObservedCommit: 100}, spec: preview,
			wantLost: true, wantObserved: 100, wantSurvivor: "c-1", wantAtRisk: 3},
		{name: "a learner neither counts nor survives", volumes: allVolumes,
			rc:   cluster(member("c-0", raftv1alpha1.RoleFollower, true, 50), member("c-1", raftv1alpha1.RoleFollower, false, 0), member("c-2", raftv1alpha1.RoleFollower, false, 0), member("c-3", raftv1alpha1.RoleLearner, true, 60)),
			spec: preview, wantLost: true, wantSurvivor: "c-0"},
		{name: "healthy pod on a lost volume is no survivor", volumes: map[string]bool{},
			rc:   cluster(member("c-0", raftv1alpha1.RoleFollower, true, 50), member("c-1", raftv1alpha1.RoleFollower, false, 0), member("c-2", raftv1alpha1.RoleFollower, false, 0)),
			spec: preview, wantLost: true, wantErr: planner.ErrNoSurvivor},
		{name: "while its plan is applied, that plan stays shown", volumes: map[string]bool{"c-1": true},
			rc: cluster(member("c-0", raftv1alpha1.RoleFollower, false, 0), member("c-1", raftv1alpha1.RoleFollower, true, 40), member("c-2", raftv1alpha1.RoleFollower, false, 0)),
			prev: &raftv1alpha1.RecoveryStatus{LastObservedCommit: 100, Plan: &raftv1alpha1.RecoveryPlanStatus{ID: "p1", Survivor: "c-0", AtRiskEntries: 5},
				Apply: &raftv1alpha1.RecoveryApplyStatus{PlanID: "p1", Survivor: "c-0"}},
			spec:     &raftv1alpha1.RecoverySpec{Mode: raftv1alpha1.RecoveryApply, PlanID: "p1"},
			wantLost: true, wantObserved: 100, wantSurvivor: "c-0", wantAtRisk: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prevCommit := uint64(0)
			if tt.prev != nil {
				prevCommit = uint64(tt.prev.LastObservedCommit)
			}
			st, err := Status(Observe(tt.rc, tt.volumes, prevCommit), tt.prev, tt.spec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if st.QuorumLost != tt.wantLost || st.LastObservedCommit != tt.wantObserved {
				t.Fatalf("status %+v", st)
			}
			survivor, atRisk := "", int64(0)
			if st.Plan != nil {
				survivor, atRisk = st.Plan.Survivor, st.Plan.AtRiskEntries
			}
			if survivor != tt.wantSurvivor || atRisk != tt.wantAtRisk {
				t.Fatalf("plan %+v, want survivor %q at-risk %d", st.Plan, tt.wantSurvivor, tt.wantAtRisk)
			}
			if tt.wantLost && len(st.Members) == 0 {
				t.Fatal("quorum loss without the member list")
			}
		})
	}
}
