package certs

import (
	"crypto/x509"
	"fmt"
	"time"
)

// CAState is a cluster's managed CA. Rotation, after the Kubernetes
// manual CA rotation procedure: introduce a new CA that every verifier
// trusts next to the old one; after Overlap make it current, so every leaf
// is re-issued from it; after another Overlap stop trusting the old one.
// At no moment does a member hold a leaf its peers do not trust.
type CAState struct {
	// Current signs every leaf.
	Current *KeyPair
	// Next is being introduced: trusted, not yet signing.
	Next *KeyPair
	// Retired were current before; still trusted until the phase ends.
	Retired []*x509.Certificate
	// Since is when the phase in progress (Next added, or Retired
	// filled) began; zero when steady.
	Since time.Time
	// Served is the last rotation request (the value of the RaftCluster's
	// raft.kuberaft.io/rotate-ca annotation) that started a rotation, so
	// that a request is served once.
	Served string
}

// Bundle is every CA to trust now: current, next and retired.
func (s CAState) Bundle() []*x509.Certificate {
	var out []*x509.Certificate
	if s.Current != nil {
		out = append(out, s.Current.Cert)
	}
	if s.Next != nil {
		out = append(out, s.Next.Cert)
	}
	return append(out, s.Retired...)
}

// Rotating tells whether a CA rotation is in progress.
func (s CAState) Rotating() bool { return s.Next != nil || len(s.Retired) > 0 }

// StepCA moves the CA one step forward and says what it did ("" when
// nothing was due). commonName names new CAs. request is the user's
// rotation request (empty when none): a value other than s.Served starts a
// rotation now, as if the CA were due, once no rotation is in progress.
func StepCA(p Policy, s CAState, commonName, request string, now time.Time) (CAState, string, error) {
	requested := request != "" && request != s.Served
	switch {
	case s.Current == nil:
		ca, err := NewCA(p, commonName, now)
		if err != nil {
			return s, "", err
		}
		// A request made before the CA existed is served by its creation.
		return CAState{Current: ca, Served: request}, "created the CA", nil
	case s.Next != nil && !now.Before(s.Since.Add(p.Overlap)):
		return CAState{Current: s.Next, Retired: []*x509.Certificate{s.Current.Cert}, Since: now, Served: s.Served},
			"the new CA signs from now on; leaves are re-issued", nil
	case s.Next == nil && len(s.Retired) > 0 && !now.Before(s.Since.Add(p.Overlap)):
		return CAState{Current: s.Current, Served: s.Served}, "dropped the retired CA from the trust bundle", nil
	case !s.Rotating() && (requested || !now.Before(RenewAt(p, s.Current.Cert))):
		next, err := NewCA(p, commonName, now)
		if err != nil {
			return s, "", err
		}
		why := fmt.Sprintf("the current one expires %s", s.Current.Cert.NotAfter.UTC().Format(time.RFC3339))
		if requested {
			why, s.Served = fmt.Sprintf("rotation requested: %q", request), request
		}
		s.Next, s.Since = next, now
		return s, fmt.Sprintf("introduced a new CA (%s); both are trusted", why), nil
	}
	return s, "", nil
}

// NextStep is when StepCA will next have something to do (for a
// requeue), a pending request aside (it is served at once).
func NextStep(p Policy, s CAState) time.Time {
	if s.Current == nil {
		return time.Time{}
	}
	if s.Rotating() {
		return s.Since.Add(p.Overlap)
	}
	return RenewAt(p, s.Current.Cert)
}
