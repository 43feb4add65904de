// Package certs is the operator's PKI for managed TLS, as pure functions:
// a CA per cluster, the server, peer and client leaves it signs, when each
// needs renewing, and the CA rotation with an overlap window in which both
// CAs are trusted. It only uses crypto/x509 (as CloudNativePG and etcd's
// SelfCert do); client-go's cert helpers fix the CA lifetime at ten years
// and cannot sign a leaf with a given CA. Time is always passed in.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Policy holds every lifetime and threshold of the managed PKI.
type Policy struct {
	// CAValidity and LeafValidity are the lifetimes of new certificates.
	CAValidity, LeafValidity time.Duration
	// RenewFraction: a certificate is renewed once this fraction of its
	// lifetime has passed (cert-manager's default is 2/3), so a missed
	// loop or a slow rollout still leaves a third of it.
	RenewFraction float64
	// Overlap is how long both CAs are trusted before the leaves move to
	// the new CA, and again before the old CA is dropped: long enough for
	// the kubelet to refresh every Secret volume (about a minute) and for
	// each node to re-read its bundle at its next handshake.
	Overlap time.Duration
	// Backdate sets NotBefore this far in the past (clock skew).
	Backdate time.Duration
}

// DefaultPolicy is what the operator uses unless told otherwise.
var DefaultPolicy = Policy{
	CAValidity:    365 * 24 * time.Hour,
	LeafValidity:  90 * 24 * time.Hour,
	RenewFraction: 2.0 / 3.0,
	Overlap:       10 * time.Minute,
	Backdate:      5 * time.Minute,
}

// KeyPair is a certificate with its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Usage is what a leaf is for.
type Usage int

// Leaf kinds. Peer and Server leaves carry both usages: every member dials
// peers with its peer certificate, and etcd tooling may dial a member's
// client port with the server one.
const (
	Server Usage = iota
	Peer
	Client
)

func (u Usage) extKeyUsages() []x509.ExtKeyUsage {
	if u == Client {
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
}

// LeafSpec is the identity a leaf must carry.
type LeafSpec struct {
	CommonName string
	Usage      Usage
	DNSNames   []string
	IPs        []net.IP
}

// NewCA creates a self-signed ECDSA P-256 CA valid from now-Backdate.
func NewCA(p Policy, commonName string, now time.Time) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl, err := template(commonName, now.Add(-p.Backdate), now.Add(p.CAValidity))
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	return sign(tmpl, tmpl, key, key)
}

// Issue signs a new leaf (with a new key) for spec. Its lifetime never
// outlasts the CA's: a leaf that outlived its issuer would fail anyway.
func Issue(p Policy, ca *KeyPair, spec LeafSpec, now time.Time) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	notAfter := now.Add(p.LeafValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl, err := template(spec.CommonName, now.Add(-p.Backdate), notAfter)
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = spec.Usage.extKeyUsages()
	tmpl.DNSNames, tmpl.IPAddresses = spec.DNSNames, spec.IPs
	return sign(tmpl, ca.Cert, key, ca.Key)
}

func template(cn string, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: notBefore, NotAfter: notAfter}, nil
}

// sign creates the certificate for key, signed by issuerKey (key itself
// for a self-signed CA).
func sign(tmpl, parent *x509.Certificate, key, issuerKey *ecdsa.PrivateKey) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, issuerKey)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// RenewAt is when c should be renewed under p.
func RenewAt(p Policy, c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(time.Duration(float64(life) * p.RenewFraction))
}

// LeafNeedsRenewal says whether leaf must be re-issued, and why: it is
// due (RenewAt), not signed by ca, or no longer matches spec (a Service
// or the cluster domain changed).
func LeafNeedsRenewal(p Policy, leaf *x509.Certificate, ca *x509.Certificate, spec LeafSpec, now time.Time) (bool, string) {
	switch {
	case !now.Before(RenewAt(p, leaf)):
		return true, fmt.Sprintf("due for renewal (expires %s)", leaf.NotAfter.UTC().Format(time.RFC3339))
	case leaf.CheckSignatureFrom(ca) != nil:
		return true, "not signed by the current CA"
	case leaf.Subject.CommonName != spec.CommonName || !slices.Equal(leaf.DNSNames, spec.DNSNames) || !sameIPs(leaf.IPAddresses, spec.IPs):
		return true, "names changed"
	case !slices.Equal(leaf.ExtKeyUsage, spec.Usage.extKeyUsages()):
		return true, "usages changed"
	}
	return false, ""
}

func sameIPs(a, b []net.IP) bool {
	return slices.EqualFunc(a, b, func(x, y net.IP) bool { return x.Equal(y) })
}

// EncodeCert and EncodeKey are PEM encodings (CERTIFICATE, EC PRIVATE KEY).
func EncodeCert(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// EncodeKey PEM-encodes an EC private key.
func EncodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ParseCerts parses every CERTIFICATE block of data.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// ParseKeyPair parses a certificate (first block) and its EC key.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("no PEM key")
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	if !key.PublicKey.Equal(certs[0].PublicKey) {
		return nil, errors.New("key does not match the certificate")
	}
	return &KeyPair{Cert: certs[0], Key: key}, nil
}
