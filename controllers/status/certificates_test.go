package status

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

func TestSetCertificatesReady(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	valid := raftv1alpha1.CertificateStatus{SecretName: "kv-server-tls", NotAfter: metav1.NewTime(now.Add(60 * 24 * time.Hour))}
	soon := raftv1alpha1.CertificateStatus{SecretName: "kv-peer-tls", NotAfter: metav1.NewTime(now.Add(ExpiryWarning - time.Hour))}
	bad := raftv1alpha1.CertificateStatus{SecretName: "cm-server", Error: "missing key ca.crt"}
	for _, tt := range []struct {
		name       string
		enabled    bool
		certs      []raftv1alpha1.CertificateStatus
		rotating   bool
		wantStatus metav1.ConditionStatus // "" = no condition
		wantReason string
	}{
		{"disabled", false, nil, false, "", ""},
		{"valid", true, []raftv1alpha1.CertificateStatus{valid}, false, metav1.ConditionTrue, raftv1alpha1.ReasonCertificatesValid},
		{"rotating", true, []raftv1alpha1.CertificateStatus{valid}, true, metav1.ConditionTrue, raftv1alpha1.ReasonCARotating},
		{"expiring", true, []raftv1alpha1.CertificateStatus{valid, soon}, false, metav1.ConditionFalse, raftv1alpha1.ReasonCertificatesExpiring},
		{"invalid wins over expiring", true, []raftv1alpha1.CertificateStatus{soon, bad}, false, metav1.ConditionFalse, raftv1alpha1.ReasonCertificatesInvalid},
		{"nothing checked", true, nil, false, metav1.ConditionUnknown, raftv1alpha1.ReasonCertificatesInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conds := []metav1.Condition{{Type: raftv1alpha1.ConditionCertificatesReady, Status: metav1.ConditionTrue, Reason: "Old"}}
			SetCertificatesReady(&conds, tt.enabled, tt.certs, tt.rotating, now, 1)
			c := meta.FindStatusCondition(conds, raftv1alpha1.ConditionCertificatesReady)
			if tt.wantStatus == "" {
				if c != nil {
					t.Fatalf("condition kept with TLS disabled: %+v", c)
				}
				return
			}
			if c == nil || c.Status != tt.wantStatus || c.Reason != tt.wantReason {
				t.Fatalf("condition = %+v, want %s/%s", c, tt.wantStatus, tt.wantReason)
			}
		})
	}
}
