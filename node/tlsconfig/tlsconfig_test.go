package tlsconfig_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kuberaft/kuberaft/node/tlsconfig"
	"github.com/kuberaft/kuberaft/node/tlsconfig/tlstest"
)

// errLog records what the server's credentials reported.
type errLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errLog) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err.Error()); l.mu.Unlock() }
func (l *errLog) all() string   { l.mu.Lock(); defer l.mu.Unlock(); return strings.Join(l.errs, "\n") }

// waitFor reports whether the log comes to contain want within d. The
// server records a refused handshake after it sent the alert, so the
// client can see its call fail before the reason is logged.
func (l *errLog) waitFor(want string, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if strings.Contains(l.all(), want) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// serve starts a gRPC health server on 127.0.0.1 with creds.
func serve(t *testing.T, creds credentials.TransportCredentials) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(creds))
	healthpb.RegisterHealthServer(g, health.NewServer())
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// call makes one health check over a new connection.
func call(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func newCreds(t *testing.T, dir string, ca *tlstest.CA, leaf tlstest.Leaf, role tlsconfig.Role, onErr func(error)) *tlsconfig.Credentials {
	t.Helper()
	cert, key := ca.Issue(t, leaf)
	f := tlstest.Write(t, dir, cert, key, ca.PEM)
	c, err := tlsconfig.New(tlsconfig.Files{CertFile: f.Cert, KeyFile: f.Key, TrustedCAFile: f.CA, ClientCertAuth: true}, role, onErr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHandshakeRefusals(t *testing.T) {
	ca, other := tlstest.NewCA(t, "ca"), tlstest.NewCA(t, "other-ca")
	now := time.Now()
	for _, tt := range []struct {
		name     string
		role     tlsconfig.Role
		clientCA *tlstest.CA
		client   tlstest.Leaf
		want     string // in the server's reason; "" = accepted
	}{
		{name: "valid client", role: tlsconfig.ClientPort, clientCA: ca, client: tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly}},
		{name: "wrong CA", role: tlsconfig.ClientPort, clientCA: other, client: tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly}, want: "unknown authority"},
		{name: "expired", role: tlsconfig.ClientPort, clientCA: ca, client: tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly, NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)}, want: "expired"},
		{name: "not yet valid", role: tlsconfig.ClientPort, clientCA: ca, client: tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly, NotBefore: now.Add(time.Hour)}, want: "is before"},
		{name: "server-only usage as client", role: tlsconfig.ClientPort, clientCA: ca, client: tlstest.Leaf{CN: "app", Usages: tlstest.ServerOnly}, want: "incompatible key usage"},
		{name: "valid peer", role: tlsconfig.Peer, clientCA: ca, client: tlstest.Leaf{CN: "m1", Usages: tlstest.ServerAndClient}},
		{name: "client-only peer", role: tlsconfig.Peer, clientCA: ca, client: tlstest.Leaf{CN: "m1", Usages: tlstest.ClientOnly}, want: "lacks the server auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var log errLog
			srv := newCreds(t, filepath.Join(dir, "srv"), ca, tlstest.Leaf{CN: "node", Usages: tlstest.ServerAndClient}, tt.role, log.add)
			addr := serve(t, srv)
			// The client trusts ca and presents tt.client; built by hand
			// because our own constructor refuses bad usages up front.
			cert, key := tt.clientCA.Issue(t, tt.client)
			f := tlstest.Write(t, filepath.Join(dir, "cli"), cert, key, ca.PEM)
			if tt.role == tlsconfig.Peer && tt.want != "" {
				// A member refuses a bad peer certificate of its own at start.
				if _, perr := tlsconfig.New(tlsconfig.Files{CertFile: f.Cert, KeyFile: f.Key, TrustedCAFile: f.CA}, tlsconfig.Peer, nil); perr == nil || !strings.Contains(perr.Error(), tt.want) {
					t.Errorf("New(Peer) with %s = %v, want an error containing %q", tt.name, perr, tt.want)
				}
			}
			err := call(t, addr, rawClient(t, ca, cert, key))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("call failed: %v (server said %s)", err, log.all())
			case tt.want != "" && err == nil:
				t.Fatal("call succeeded; want refused")
			case tt.want != "" && !log.waitFor(tt.want, 5*time.Second):
				t.Fatalf("server reason %q does not contain %q", log.all(), tt.want)
			}
		})
	}
}

// rawClient builds client credentials with crypto/tls directly (trusting
// ca, presenting certPEM unless nil), for certificates tlsconfig itself
// would refuse to load.
func rawClient(t *testing.T, ca *tlstest.CA, certPEM, keyPEM []byte) credentials.TransportCredentials {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// Always present it: crypto/tls would otherwise hold back a
		// certificate the server's CA list does not name (wrong CA).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return credentials.NewTLS(cfg)
}

func TestPlaintextRefused(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	var log errLog
	addr := serve(t, newCreds(t, t.TempDir(), ca, tlstest.Leaf{CN: "node", Usages: tlstest.ServerAndClient}, tlsconfig.ClientPort, log.add))
	if err := call(t, addr, insecure.NewCredentials()); err == nil {
		t.Fatal("plaintext call succeeded against a TLS listener")
	}
	if !strings.Contains(log.all(), "refused a TLS connection") {
		t.Fatalf("server did not report the refusal: %q", log.all())
	}
}

func TestNoClientCertRefused(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	var log errLog
	addr := serve(t, newCreds(t, t.TempDir(), ca, tlstest.Leaf{CN: "node", Usages: tlstest.ServerAndClient}, tlsconfig.ClientPort, log.add))
	if err := call(t, addr, rawClient(t, ca, nil, nil)); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	if !strings.Contains(log.all(), "certificate") {
		t.Fatalf("server reason does not mention the certificate: %q", log.all())
	}
}

// TestRotation replaces the CA and both leaves on disk; the next
// handshakes use the new files with no new Credentials, and a torn
// rotation (new certificate, old key) keeps serving with the old pair.
func TestRotation(t *testing.T) {
	ca1, ca2 := tlstest.NewCA(t, "ca1"), tlstest.NewCA(t, "ca2")
	dir := t.TempDir()
	var log errLog
	srvLeaf := tlstest.Leaf{CN: "node", Usages: tlstest.ServerAndClient}
	srvCert, srvKey := ca1.Issue(t, srvLeaf)
	sf := tlstest.Write(t, filepath.Join(dir, "srv"), srvCert, srvKey, ca1.PEM)
	srv, err := tlsconfig.New(tlsconfig.Files{CertFile: sf.Cert, KeyFile: sf.Key, TrustedCAFile: sf.CA, ClientCertAuth: true}, tlsconfig.ClientPort, log.add)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, srv)
	cliCert, cliKey := ca1.Issue(t, tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly})
	cf := tlstest.Write(t, filepath.Join(dir, "cli"), cliCert, cliKey, ca1.PEM)
	cli, err := tlsconfig.New(tlsconfig.Files{CertFile: cf.Cert, KeyFile: cf.Key, TrustedCAFile: cf.CA}, tlsconfig.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, wantOK bool) {
		t.Helper()
		if err := call(t, addr, cli); (err == nil) != wantOK {
			t.Fatalf("%s: call error %v, want ok=%v (server said %s)", name, err, wantOK, log.all())
		}
	}
	step("before", true)
	// Overlap: both sides trust ca1 and ca2, leaves still from ca1.
	tlstest.WriteFile(t, sf.CA, tlstest.Bundle(ca1, ca2))
	tlstest.WriteFile(t, cf.CA, tlstest.Bundle(ca1, ca2))
	step("bundle", true)
	// Torn server rotation: new certificate, key not yet written.
	newSrvCert, newSrvKey := ca2.Issue(t, srvLeaf)
	tlstest.WriteFile(t, sf.Cert, newSrvCert)
	step("torn", true)
	if !strings.Contains(log.all(), "keeping the previous ones") {
		t.Fatalf("torn rotation not reported: %q", log.all())
	}
	tlstest.WriteFile(t, sf.Key, newSrvKey)
	newCliCert, newCliKey := ca2.Issue(t, tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly})
	tlstest.WriteFile(t, cf.Key, newCliKey)
	tlstest.WriteFile(t, cf.Cert, newCliCert)
	step("leaves from ca2", true)
	// Drop ca1: a client still holding a ca1 leaf is now refused.
	tlstest.WriteFile(t, sf.CA, ca2.PEM)
	tlstest.WriteFile(t, cf.CA, ca2.PEM)
	step("ca2 only", true)
	oldCert, oldKey := ca1.Issue(t, tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly})
	tlstest.WriteFile(t, cf.Key, oldKey)
	tlstest.WriteFile(t, cf.Cert, oldCert)
	step("ca1 leaf after the drop", false)
}

func TestNewRefusesBadFiles(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	cert, key := ca.Issue(t, tlstest.Leaf{CN: "node", Usages: tlstest.ClientOnly})
	f := tlstest.Write(t, t.TempDir(), cert, key, ca.PEM)
	srvCert, srvKey := ca.Issue(t, tlstest.Leaf{CN: "node", Usages: tlstest.ServerAndClient})
	sf := tlstest.Write(t, t.TempDir(), srvCert, srvKey, ca.PEM)
	for _, tt := range []struct {
		name  string
		files tlsconfig.Files
		want  string
	}{
		{"key without cert", tlsconfig.Files{KeyFile: f.Key}, "together"},
		{"client auth without CA", tlsconfig.Files{CertFile: f.Cert, KeyFile: f.Key, ClientCertAuth: true}, "trusted CA"},
		{"missing file", tlsconfig.Files{CertFile: f.Cert + ".nope", KeyFile: f.Key}, "no such file"},
		{"client-only as server", tlsconfig.Files{CertFile: f.Cert, KeyFile: f.Key}, "lacks the server auth"},
		{"CA file not PEM", tlsconfig.Files{CertFile: sf.Cert, KeyFile: sf.Key, TrustedCAFile: sf.Key}, "no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tlsconfig.New(tt.files, tlsconfig.ClientPort, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
