package status

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

func TestSetRestored(t *testing.T) {
	tests := []struct {
		name, reason string
		want         metav1.ConditionStatus
	}{
		{"waiting for the backup", raftv1alpha1.ReasonRestoreWaitingForBackup, metav1.ConditionFalse},
		{"fetching", raftv1alpha1.ReasonRestoreFetching, metav1.ConditionFalse},
		{"seeding: placed, not yet formed", raftv1alpha1.ReasonRestoreSeeding, metav1.ConditionFalse},
		{"failed", raftv1alpha1.ReasonRestoreFailed, metav1.ConditionFalse},
		{"formed from the snapshot", raftv1alpha1.ReasonRestoreSeeded, metav1.ConditionTrue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conds []metav1.Condition
			SetRestored(&conds, tt.reason, "m", 7)
			check(t, conds, raftv1alpha1.ConditionRestored, want{tt.want, tt.reason})
		})
	}
}
