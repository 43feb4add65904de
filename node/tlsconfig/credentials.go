package tlsconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"
)

// Role says which port an identity serves, which decides the usages its
// certificates need.
type Role int

const (
	// ClientPort serves etcd clients: the certificate needs server auth;
	// clients are verified for client auth (by crypto/tls).
	ClientPort Role = iota
	// Peer serves and dials other members: every certificate, ours and
	// theirs, needs server and client auth.
	Peer
	// Client dials a client port (tools, tests): the certificate needs
	// client auth.
	Client
)

func (r Role) usages() []x509.ExtKeyUsage {
	switch r {
	case Peer:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	case Client:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
}

// Credentials are gRPC transport credentials that build a fresh tls.Config
// from the files at every handshake.
type Credentials struct {
	src        *source
	role       Role
	onError    func(error)
	serverName string
}

var _ credentials.TransportCredentials = (*Credentials)(nil)

// New reads and checks the files once (so a bad file fails at start) and
// returns credentials for role. onError, if set, hears every refused
// handshake and every failed reload, with the reason.
func New(f Files, role Role, onError func(error)) (*Credentials, error) {
	src, err := newSource(f, role.usages())
	if err != nil {
		return nil, err
	}
	if onError == nil {
		onError = func(error) {}
	}
	return &Credentials{src: src, role: role, onError: onError}, nil
}

// current loads the files; a failed reload is reported and the last good
// material used.
func (c *Credentials) current() material {
	m, err := c.src.load()
	if err != nil {
		c.onError(fmt.Errorf("reloading TLS files (keeping the previous ones): %w", err))
	}
	return m
}

// ServerConfig is the listener's tls.Config as of now.
func (c *Credentials) ServerConfig() *tls.Config {
	m := c.current()
	cfg := &tls.Config{MinVersion: MinVersion, Certificates: []tls.Certificate{*m.cert}}
	if m.pool != nil || c.src.files.ClientCertAuth {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = m.pool
	}
	cfg.VerifyPeerCertificate = c.verifyRemoteUsages
	return cfg
}

// ClientConfig is the dialer's tls.Config as of now; the server name is
// filled from the dialed address by gRPC (or set by OverrideServerName).
func (c *Credentials) ClientConfig() *tls.Config {
	m := c.current()
	return &tls.Config{
		MinVersion: MinVersion, Certificates: []tls.Certificate{*m.cert}, RootCAs: m.pool,
		ServerName: c.serverName, VerifyPeerCertificate: c.verifyRemoteUsages,
	}
}

// verifyRemoteUsages adds the role's usage rule to crypto/tls's chain
// check, which only asks for the usage of the remote's side of this one
// connection: a peer holding a client-only certificate would otherwise be
// accepted on the peer port although no member could ever dial it.
func (c *Credentials) verifyRemoteUsages(_ [][]byte, chains [][]*x509.Certificate) error {
	if c.role != Peer || len(chains) == 0 {
		return nil
	}
	if err := checkUsages(chains[0][0], c.role.usages()); err != nil {
		return fmt.Errorf("peer %w", err)
	}
	return nil
}

// ServerHandshake implements credentials.TransportCredentials.
func (c *Credentials) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := credentials.NewTLS(c.ServerConfig()).ServerHandshake(raw)
	if err != nil {
		c.onError(fmt.Errorf("refused a TLS connection from %s: %w", raw.RemoteAddr(), err))
	}
	return conn, info, err
}

// ClientHandshake implements credentials.TransportCredentials.
func (c *Credentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.ClientConfig()).ClientHandshake(ctx, authority, raw)
}

// Info implements credentials.TransportCredentials.
func (c *Credentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2", ServerName: c.serverName}
}

// Clone implements credentials.TransportCredentials.
func (c *Credentials) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// OverrideServerName implements credentials.TransportCredentials.
//
//nolint:staticcheck // part of the interface gRPC still defines
func (c *Credentials) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}
