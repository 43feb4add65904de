package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// TestHoldsOldVolume: which pod of a discarded member must still be
// deleted so that its old volume can go.
func TestHoldsOldVolume(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	apply := &raftv1alpha1.RecoveryApplyStatus{DiscardedPods: []string{"pod-recorded"}}
	pod := func(uid string, created metav1.Time, node string, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), CreationTimestamp: created}, Spec: corev1.PodSpec{NodeName: node}}
		if deleting {
			p.DeletionTimestamp = &t1
		}
		return p
	}
	deletingPVC := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &t1}}
	livePVC := &corev1.PersistentVolumeClaim{}
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		pvc  *corev1.PersistentVolumeClaim
		old  bool
		want bool
	}{
		{"no pod", nil, deletingPVC, true, false},
		{"the pod recorded at the start", pod("pod-recorded", t1, "n1", false), livePVC, true, true},
		{"the recorded pod, already being deleted", pod("pod-recorded", t0, "n1", true), deletingPVC, true, false},
		{"a later pod scheduled before the volume's deletion", pod("later", t0, "n1", false), deletingPVC, true, true},
		{"a pod created after the deletion began", pod("later", t1, "n1", false), deletingPVC, true, false},
		{"an unscheduled pod", pod("later", t0, "", false), deletingPVC, true, false},
		{"a pod on a fresh volume", pod("later", t0, "n1", false), livePVC, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := holdsOldVolume(tt.pod, tt.pvc, tt.old, apply); got != tt.want {
				t.Fatalf("holdsOldVolume = %v, want %v", got, tt.want)
			}
		})
	}
}
