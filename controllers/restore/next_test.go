package restore

import (
	"strings"
	"testing"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func completed(phase raftv1alpha1.BackupPhase) *raftv1alpha1.RaftBackup {
	b := &raftv1alpha1.RaftBackup{Spec: raftv1alpha1.RaftBackupSpec{Cluster: "src",
		Destination: raftv1alpha1.BackupDestination{S3: &raftv1alpha1.S3Destination{Bucket: "b"}}}}
	b.Status.Phase, b.Status.Key, b.Status.SHA256, b.Status.Error = phase, "p/src/b1.db", sum, "no member"
	return b
}

func TestNext(t *testing.T) {
	byName := &raftv1alpha1.RestoreSource{Backup: "b1"}
	byKey := &raftv1alpha1.RestoreSource{Key: "k.db", Destination: &raftv1alpha1.BackupDestination{
		PVC: &raftv1alpha1.PVCDestination{ClaimName: "backups"}}}
	fetched := `{"AppliedIndex":42,"Revision":9,"SHA256":"` + sum + `","location":"s3://b/p/src/b1.db"}`
	tests := []struct {
		name       string
		o          Observed
		want       Action
		wantReason string
		wantMsg    string
	}{
		{name: "formed: done, never again",
			o: Observed{Spec: byName, Bootstrapped: true, Formed: true}, want: Done, wantReason: raftv1alpha1.ReasonRestoreSeeded},
		{name: "recorded, the member starts: done, not yet restored",
			o: Observed{Spec: byName, Bootstrapped: true}, want: Done, wantReason: raftv1alpha1.ReasonRestoreSeeding},
		{name: "the backup does not exist yet",
			o: Observed{Spec: byName}, want: Wait, wantReason: raftv1alpha1.ReasonRestoreWaitingForBackup, wantMsg: `"b1" not found`},
		{name: "the backup is still running",
			o: Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupRunning)}, want: Wait, wantReason: raftv1alpha1.ReasonRestoreWaitingForBackup, wantMsg: "Running"},
		{name: "the backup failed",
			o: Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupFailed)}, want: Fail, wantReason: raftv1alpha1.ReasonRestoreSourceInvalid, wantMsg: "no member"},
		{name: "the spec's sha256 is not the backup's",
			o:    Observed{Spec: &raftv1alpha1.RestoreSource{Backup: "b1", SHA256: strings.Repeat("f", 64)}, Backup: completed(raftv1alpha1.BackupCompleted)},
			want: Fail, wantReason: raftv1alpha1.ReasonRestoreSourceInvalid, wantMsg: "sha256"},
		{name: "completed backup: the volume first",
			o: Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupCompleted)}, want: CreateClaim, wantReason: raftv1alpha1.ReasonRestoreFetching},
		{name: "destination and key: the volume first",
			o: Observed{Spec: byKey}, want: CreateClaim, wantReason: raftv1alpha1.ReasonRestoreFetching},
		{name: "then the fetch Job",
			o: Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupCompleted), ClaimExists: true}, want: CreateJob},
		{name: "the Job runs",
			o: Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupCompleted), ClaimExists: true, Job: JobState{Exists: true}}, want: Wait, wantReason: raftv1alpha1.ReasonRestoreFetching},
		{name: "the Job failed: say why and how to retry",
			o:    Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupCompleted), ClaimExists: true, Job: JobState{Exists: true, Failed: true, Message: "sha256 mismatch"}},
			want: Fail, wantReason: raftv1alpha1.ReasonRestoreFailed, wantMsg: "sha256 mismatch (delete the Job to retry)"},
		{name: "the Job succeeded without a description",
			o:    Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupCompleted), ClaimExists: true, Job: JobState{Exists: true, Succeeded: true}},
			want: Fail, wantReason: raftv1alpha1.ReasonRestoreFailed},
		{name: "the Job placed another file than the backup's",
			o: Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupCompleted), ClaimExists: true,
				Job: JobState{Exists: true, Succeeded: true, Message: strings.Replace(fetched, sum, strings.Repeat("e", 64), 1)}},
			want: Fail, wantReason: raftv1alpha1.ReasonRestoreFailed, wantMsg: "want " + sum},
		{name: "verified: seed the first member",
			o:    Observed{Spec: byName, Backup: completed(raftv1alpha1.BackupCompleted), ClaimExists: true, Job: JobState{Exists: true, Succeeded: true, Message: fetched}},
			want: Seed, wantMsg: "applied index 42"},
		{name: "destination and key without a checksum: the trailer is the check",
			o: Observed{Spec: byKey, ClaimExists: true, Job: JobState{Exists: true, Succeeded: true, Message: fetched}}, want: Seed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(tt.o)
			if got.Action != tt.want || (tt.wantReason != "" && got.Reason != tt.wantReason) || !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("Next = %+v, want %s %s %q", got, tt.want, tt.wantReason, tt.wantMsg)
			}
		})
	}
}

func TestNextSourceFromBackup(t *testing.T) {
	got := Next(Observed{Spec: &raftv1alpha1.RestoreSource{Backup: "b1"}, Backup: completed(raftv1alpha1.BackupCompleted)})
	if got.Source.Key != "p/src/b1.db" || got.Source.SHA256 != sum || got.Source.Destination.S3 == nil {
		t.Errorf("source = %+v, want the backup's destination, key and sha256", got.Source)
	}
}
