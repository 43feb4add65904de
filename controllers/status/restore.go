package status

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// SetRestored sets Restored on a cluster with spec.bootstrap.restore: True
// with reason Restored once the seeded member formed the cluster, False
// with the restore's current reason (waiting for the backup, fetching,
// seeding, failed) before.
func SetRestored(conds *[]metav1.Condition, reason, message string, generation int64) {
	c := metav1.Condition{Type: raftv1alpha1.ConditionRestored, Status: metav1.ConditionFalse,
		Reason: reason, Message: message, ObservedGeneration: generation}
	if reason == raftv1alpha1.ReasonRestoreSeeded {
		c.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, c)
}
