package nodeclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc/credentials"
)

// Identity is the operator's client certificate for one cluster and the
// CA bundle its members' server certificates chain to (PEM).
type Identity struct {
	CertPEM, KeyPEM, CABundlePEM []byte
}

// TLSStore holds the operator's identity per cluster. The controller
// Sets it every loop from the cluster's Secrets; connections look it up
// at every handshake, so a renewed certificate or a rotated CA is used
// from the next connection on without closing anything.
type TLSStore struct {
	mu  sync.RWMutex
	ids map[clusterKey]*tls.Config
}

type clusterKey struct{ namespace, service string }

// NewTLSStore returns an empty store.
func NewTLSStore() *TLSStore { return &TLSStore{ids: map[clusterKey]*tls.Config{}} }

// Set records the identity for the cluster whose peer Service is service.
// A nil store (unit tests with a fake NodeClient) ignores it.
func (s *TLSStore) Set(namespace, service string, id Identity) error {
	if s == nil {
		return nil
	}
	pair, err := tls.X509KeyPair(id.CertPEM, id.KeyPEM)
	if err != nil {
		return fmt.Errorf("operator client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(id.CABundlePEM) {
		return fmt.Errorf("operator CA bundle: no PEM certificate")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, RootCAs: pool}
	s.mu.Lock()
	s.ids[clusterKey{namespace, service}] = cfg
	s.mu.Unlock()
	return nil
}

// Delete forgets a cluster (TLS disabled, or the cluster is gone).
func (s *TLSStore) Delete(namespace, service string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.ids, clusterKey{namespace, service})
	s.mu.Unlock()
}

// Has tells whether the cluster's members are dialed with TLS.
func (s *TLSStore) Has(ep Endpoint) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.ids[clusterKey{ep.Namespace, ep.Service}]
	return ok
}

func (s *TLSStore) config(ep Endpoint) (*tls.Config, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cfg, ok := s.ids[clusterKey{ep.Namespace, ep.Service}]
	if !ok {
		return nil, fmt.Errorf("no operator client certificate for the cluster of %s/%s", ep.Namespace, ep.Pod)
	}
	return cfg.Clone(), nil
}

// storeCreds are the transport credentials of one connection: each
// handshake takes the cluster's identity as the store has it then.
type storeCreds struct {
	store *TLSStore
	ep    Endpoint
}

var _ credentials.TransportCredentials = storeCreds{}

func (c storeCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	cfg, err := c.store.config(c.ep)
	if err != nil {
		return nil, nil, err
	}
	return credentials.NewTLS(cfg).ClientHandshake(ctx, authority, raw)
}

func (c storeCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, fmt.Errorf("nodeclient: client-only credentials")
}

func (c storeCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}
func (c storeCreds) Clone() credentials.TransportCredentials { return c }

//nolint:staticcheck // part of the interface gRPC still defines
func (c storeCreds) OverrideServerName(string) error { return nil }
