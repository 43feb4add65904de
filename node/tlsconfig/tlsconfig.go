// Package tlsconfig builds the node's TLS transport credentials from
// etcd-style certificate files (--cert-file, --key-file, --trusted-ca-file
// and their --peer- twins) and re-reads those files at every handshake, so
// a rotated certificate, key or CA bundle takes effect on the next
// connection without a restart.
//
// Why not etcd's transport.TLSInfo: it re-reads the key pair per handshake
// but builds the CA pool once (etcd #11555), so a CA rotation would need a
// restart. Why not grpc's advancedtls: it polls on a timer (default one
// hour) and is a separate module. The standard library's hooks do both in a
// few lines: gRPC calls our ClientHandshake/ServerHandshake per connection
// and we hand it a tls.Config built from the files as they are now.
//
// Rules (one place): TLS 1.2 minimum (1.3 is negotiated whenever both ends
// speak it, which ours always do); a trusted CA file turns client
// certificate verification on, as in etcd; peer certificates must allow
// both server and client authentication, because every member both serves
// and dials the peer port.
package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
)

// MinVersion is the lowest TLS version any listener or dialer accepts.
const MinVersion = tls.VersionTLS12

// Files names the PEM files of one TLS identity and its trust.
type Files struct {
	// CertFile and KeyFile are this end's certificate (chain) and key.
	CertFile, KeyFile string
	// TrustedCAFile is the CA bundle peers are verified against; it may
	// hold several CAs (old and new during a CA rotation).
	TrustedCAFile string
	// ClientCertAuth requires and verifies client certificates on a
	// listener. A TrustedCAFile alone turns it on too (etcd's rule).
	ClientCertAuth bool
}

// Enabled tells whether any TLS file is configured.
func (f Files) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" || f.TrustedCAFile != "" }

// validate checks the combination of files, before any is read.
func (f Files) validate() error {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return errors.New("tls: the certificate and key files must be given together")
	}
	if f.CertFile == "" {
		return errors.New("tls: a certificate and key file are required")
	}
	if f.ClientCertAuth && f.TrustedCAFile == "" {
		return errors.New("tls: client certificate auth needs a trusted CA file")
	}
	return nil
}

// material is one parsed reading of the files.
type material struct {
	cert *tls.Certificate
	pool *x509.CertPool // nil without a CA file
}

// source reads the files and caches what it parsed, keyed by their bytes:
// a handshake costs three small reads, a parse only after a change.
type source struct {
	files Files
	// usages every certificate of this identity must allow (its own, and
	// a verified remote one).
	usages []x509.ExtKeyUsage

	mu                     sync.Mutex
	certPEM, keyPEM, caPEM []byte
	cur                    material
}

func newSource(f Files, usages []x509.ExtKeyUsage) (*source, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	s := &source{files: f, usages: usages}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load returns the current material. When the files changed but do not
// parse (e.g. a rotation wrote the new certificate but not yet its key),
// the last good material is kept and the error returned alongside it, so
// a torn rotation never breaks serving; the first load has no fallback.
func (s *source) load() (material, error) {
	certPEM, keyPEM, caPEM, err := s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && bytes.Equal(certPEM, s.certPEM) && bytes.Equal(keyPEM, s.keyPEM) && bytes.Equal(caPEM, s.caPEM) {
		return s.cur, nil
	}
	var m material
	if err == nil {
		m, err = s.parse(certPEM, keyPEM, caPEM)
	}
	if err != nil {
		return s.cur, err
	}
	s.certPEM, s.keyPEM, s.caPEM, s.cur = certPEM, keyPEM, caPEM, m
	return m, nil
}

func (s *source) read() (certPEM, keyPEM, caPEM []byte, err error) {
	if certPEM, err = os.ReadFile(s.files.CertFile); err != nil {
		return nil, nil, nil, fmt.Errorf("tls: read certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(s.files.KeyFile); err != nil {
		return nil, nil, nil, fmt.Errorf("tls: read key: %w", err)
	}
	if s.files.TrustedCAFile != "" {
		if caPEM, err = os.ReadFile(s.files.TrustedCAFile); err != nil {
			return nil, nil, nil, fmt.Errorf("tls: read trusted CA: %w", err)
		}
	}
	return certPEM, keyPEM, caPEM, nil
}

func (s *source) parse(certPEM, keyPEM, caPEM []byte) (material, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return material{}, fmt.Errorf("tls: %s / %s: %w", s.files.CertFile, s.files.KeyFile, err)
	}
	if err := checkUsages(cert.Leaf, s.usages); err != nil {
		return material{}, fmt.Errorf("tls: %s: %w", s.files.CertFile, err)
	}
	m := material{cert: &cert}
	if caPEM != nil {
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(caPEM) {
			return material{}, fmt.Errorf("tls: %s: no PEM certificate found", s.files.TrustedCAFile)
		}
	}
	return m, nil
}

// checkUsages refuses a certificate whose extended key usages do not
// allow every one of want (no extension at all means any usage).
func checkUsages(c *x509.Certificate, want []x509.ExtKeyUsage) error {
	if len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil
	}
	for _, u := range want {
		if !slices.Contains(c.ExtKeyUsage, u) {
			return fmt.Errorf("certificate %q lacks the %s extended key usage", c.Subject.CommonName, usageName(u))
		}
	}
	return nil
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "server auth"
	case x509.ExtKeyUsageClientAuth:
		return "client auth"
	}
	return fmt.Sprintf("#%d", u)
}
