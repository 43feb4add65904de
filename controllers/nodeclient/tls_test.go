package nodeclient

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kuberaft/kuberaft/controllers/certs"
	"github.com/kuberaft/kuberaft/node/api/nodepb"
	"github.com/kuberaft/kuberaft/node/tlsconfig"
)

// pki issues a managed CA and the leaves of cluster kv in namespace db.
type pki struct {
	t  *testing.T
	ca *certs.KeyPair
}

func newPKI(t *testing.T) pki {
	t.Helper()
	ca, err := certs.NewCA(certs.DefaultPolicy, "kv-ca", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return pki{t: t, ca: ca}
}

func (p pki) pem(spec certs.LeafSpec) (cert, key []byte) {
	p.t.Helper()
	kp, err := certs.Issue(certs.DefaultPolicy, p.ca, spec, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	key, err = certs.EncodeKey(kp.Key)
	if err != nil {
		p.t.Fatal(err)
	}
	return certs.EncodeCert(kp.Cert), key
}

func (p pki) identity() Identity {
	cert, key := p.pem(certs.OperatorSpec())
	return Identity{CertPEM: cert, KeyPEM: key, CABundlePEM: certs.EncodeCert(p.ca.Cert)}
}

// startTLS serves the fake node with the node's own TLS credentials and a
// managed server certificate, requiring client certificates.
func startTLS(t *testing.T, p pki) string {
	t.Helper()
	dir := t.TempDir()
	cert, key := p.pem(certs.ServerSpec(certs.ClusterNames{Name: "kv", Namespace: "db", PeerService: "kv-peer", Domain: "cluster.local"}))
	files := tlsconfig.Files{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), TrustedCAFile: filepath.Join(dir, "ca.crt"), ClientCertAuth: true}
	for path, data := range map[string][]byte{files.CertFile: cert, files.KeyFile: key, files.TrustedCAFile: certs.EncodeCert(p.ca.Cert)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := tlsconfig.New(files, tlsconfig.ClientPort, nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(creds))
	nodepb.RegisterMembershipServer(g, &server{})
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func tlsClient(t *testing.T, addr string, store *TLSStore) *GRPC {
	t.Helper()
	c := NewGRPC(Options{CallTimeout: 5 * time.Second, TLS: store, Address: func(Endpoint) string { return addr }})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMutualTLS: the node client dials a cluster it holds an identity
// for with that identity, verified against the cluster's CA; without an
// identity it dials plaintext, which a TLS node refuses; an identity of
// another CA is refused too. Replacing the identity in the store takes
// effect for new connections without touching the client.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	addr := startTLS(t, p)
	ctx := context.Background()

	store := NewTLSStore()
	if _, err := tlsClient(t, addr, store).Status(ctx, ep); err == nil {
		t.Fatal("a plaintext call to a TLS node succeeded")
	}
	if err := store.Set(ep.Namespace, ep.Service, newPKI(t).identity()); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsClient(t, addr, store).Status(ctx, ep); err == nil {
		t.Fatal("an identity of another CA was accepted")
	}
	if err := store.Set(ep.Namespace, ep.Service, p.identity()); err != nil {
		t.Fatal(err)
	}
	st, err := tlsClient(t, addr, store).Status(ctx, ep)
	if err != nil {
		t.Fatalf("mutual TLS status call: %v", err)
	}
	if st.Name != "kv-0" {
		t.Fatalf("status = %+v", st)
	}
}

func TestTLSStoreRefusesBadIdentity(t *testing.T) {
	p := newPKI(t)
	id := p.identity()
	id.CABundlePEM = []byte("not a certificate")
	if err := NewTLSStore().Set("db", "kv-peer", id); err == nil {
		t.Fatal("a CA bundle without a certificate was accepted")
	}
	id = p.identity()
	id.KeyPEM = p.identity().KeyPEM // another certificate's key
	if err := NewTLSStore().Set("db", "kv-peer", id); err == nil {
		t.Fatal("a key of another certificate was accepted")
	}
}
