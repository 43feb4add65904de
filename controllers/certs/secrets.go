package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Keys of the Secrets, in cert-manager's (kubernetes.io/tls) shape, so a
// cert-manager Certificate can stand in for any leaf Secret.
const (
	KeyCert   = "tls.crt"
	KeyKey    = "tls.key"
	KeyCA     = "ca.crt"
	keyNext   = "next.crt"
	keyNextK  = "next.key"
	keyRetire = "retired.crt"
	// AnnotationPhaseSince records CAState.Since on the CA Secret.
	AnnotationPhaseSince = "raft.kuberaft.io/ca-phase-since"
	// AnnotationRotationServed records CAState.Served on the CA Secret.
	AnnotationRotationServed = "raft.kuberaft.io/ca-rotation-served"
)

// EncodeCA is the CA Secret's data and annotations for s.
func EncodeCA(s CAState) (map[string][]byte, map[string]string, error) {
	data := map[string][]byte{KeyCA: EncodeCert(s.Bundle()...)}
	if err := putPair(data, KeyCert, KeyKey, s.Current); err != nil {
		return nil, nil, err
	}
	if s.Next != nil {
		if err := putPair(data, keyNext, keyNextK, s.Next); err != nil {
			return nil, nil, err
		}
	}
	if len(s.Retired) > 0 {
		data[keyRetire] = EncodeCert(s.Retired...)
	}
	ann := map[string]string{}
	if !s.Since.IsZero() {
		ann[AnnotationPhaseSince] = s.Since.UTC().Format(time.RFC3339)
	}
	if s.Served != "" {
		ann[AnnotationRotationServed] = s.Served
	}
	return data, ann, nil
}

func putPair(data map[string][]byte, certKey, keyKey string, kp *KeyPair) error {
	if kp == nil {
		return errors.New("no key pair")
	}
	k, err := EncodeKey(kp.Key)
	if err != nil {
		return err
	}
	data[certKey], data[keyKey] = EncodeCert(kp.Cert), k
	return nil
}

// DecodeCA reads a CA Secret written by EncodeCA.
func DecodeCA(data map[string][]byte, ann map[string]string) (CAState, error) {
	var s CAState
	var err error
	if s.Current, err = ParseKeyPair(data[KeyCert], data[KeyKey]); err != nil {
		return s, fmt.Errorf("current CA: %w", err)
	}
	if len(data[keyNext]) > 0 {
		if s.Next, err = ParseKeyPair(data[keyNext], data[keyNextK]); err != nil {
			return s, fmt.Errorf("next CA: %w", err)
		}
	}
	if len(data[keyRetire]) > 0 {
		if s.Retired, err = ParseCerts(data[keyRetire]); err != nil {
			return s, fmt.Errorf("retired CA: %w", err)
		}
	}
	s.Served = ann[AnnotationRotationServed]
	if v := ann[AnnotationPhaseSince]; v != "" {
		if s.Since, err = time.Parse(time.RFC3339, v); err != nil {
			return s, fmt.Errorf("annotation %s: %w", AnnotationPhaseSince, err)
		}
	}
	return s, nil
}

// EncodeLeaf is a leaf Secret's data: the leaf, its key and the bundle.
func EncodeLeaf(kp *KeyPair, bundle []*x509.Certificate) (map[string][]byte, error) {
	data := map[string][]byte{KeyCA: EncodeCert(bundle...)}
	if err := putPair(data, KeyCert, KeyKey, kp); err != nil {
		return nil, err
	}
	return data, nil
}

// CheckLeaf validates a leaf Secret (managed or provided): the three keys
// are present, the key matches, and the leaf chains to ca.crt for usage u
// at now. It returns the leaf for its expiry.
func CheckLeaf(data map[string][]byte, u Usage, now time.Time) (*x509.Certificate, error) {
	for _, k := range []string{KeyCert, KeyKey, KeyCA} {
		if len(data[k]) == 0 {
			return nil, fmt.Errorf("missing key %s", k)
		}
	}
	kp, err := ParseKeyPair(data[KeyCert], data[KeyKey])
	if err != nil {
		return nil, err
	}
	cas, err := ParseCerts(data[KeyCA])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyCA, err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	if chain, err := ParseCerts(data[KeyCert]); err == nil {
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
	}
	for _, eku := range u.extKeyUsages() {
		opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{eku}}
		if _, err := kp.Cert.Verify(opts); err != nil {
			return kp.Cert, err
		}
	}
	return kp.Cert, nil
}
