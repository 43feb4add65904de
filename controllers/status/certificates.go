package status

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// ExpiryWarning: a certificate closer than this to its expiry makes
// CertificatesReady False (CloudNativePG's threshold). Managed ones are
// renewed long before; reaching it means renewal is failing, or a
// provided Secret is not being renewed.
const ExpiryWarning = 7 * 24 * time.Hour

// SetCertificatesReady sets CertificatesReady from the TLS Secrets seen
// this loop; with TLS disabled the condition is removed.
func SetCertificatesReady(conds *[]metav1.Condition, tlsEnabled bool, certs []raftv1alpha1.CertificateStatus, caRotating bool, now time.Time, generation int64) {
	if !tlsEnabled {
		meta.RemoveStatusCondition(conds, raftv1alpha1.ConditionCertificatesReady)
		return
	}
	c := metav1.Condition{Type: raftv1alpha1.ConditionCertificatesReady, ObservedGeneration: generation}
	var invalid, expiring []string
	for _, st := range certs {
		switch {
		case st.Error != "":
			invalid = append(invalid, st.SecretName+": "+st.Error)
		case st.NotAfter.Sub(now) < ExpiryWarning:
			expiring = append(expiring, fmt.Sprintf("%s expires %s", st.SecretName, st.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	switch {
	case len(invalid) > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, raftv1alpha1.ReasonCertificatesInvalid, strings.Join(invalid, "; ")
	case len(expiring) > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, raftv1alpha1.ReasonCertificatesExpiring, strings.Join(expiring, "; ")
	case len(certs) == 0:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, raftv1alpha1.ReasonCertificatesInvalid, "no certificate checked yet"
	case caRotating:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, raftv1alpha1.ReasonCARotating, "a CA rotation is in progress; both CAs are trusted"
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, raftv1alpha1.ReasonCertificatesValid, fmt.Sprintf("%d certificates valid", len(certs))
	}
	meta.SetStatusCondition(conds, c)
}
