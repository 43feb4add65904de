package proctest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kuberaft/kuberaft/node/server"
	"github.com/kuberaft/kuberaft/node/tlsconfig"
	"github.com/kuberaft/kuberaft/node/tlsconfig/tlstest"
)

// tlsEnv is the PKI of a TLS test cluster: the CA that issues new leaves,
// the trust bundle written into every ca.pem, and the files of every
// identity (members' server and peer leaves, the operator's and an
// application's client certificates), so a test can rotate them on disk.
type tlsEnv struct {
	dir string

	mu     sync.Mutex
	issuer *tlstest.CA
	trust  []byte
	// identities by directory, with the usages and CN they are issued with.
	ids map[string]identity

	operator, app tlstest.Files
}

type identity struct {
	cn     string
	usages []x509.ExtKeyUsage
}

func newTLSEnv(t *testing.T, dir string) *tlsEnv {
	t.Helper()
	ca := tlstest.NewCA(t, "proctest-ca-1")
	e := &tlsEnv{dir: dir, issuer: ca, trust: ca.PEM, ids: map[string]identity{}}
	e.operator = e.add(t, filepath.Join(dir, "clients", "operator"), server.DefaultMembershipAllowedCN, tlstest.ClientOnly)
	e.app = e.add(t, filepath.Join(dir, "clients", "app"), "app", tlstest.ClientOnly)
	return e
}

// newTLSCluster starts n members with mutual TLS on both ports.
func newTLSCluster(t *testing.T, n int) *cluster {
	t.Helper()
	root := t.TempDir()
	c := &cluster{t: t, root: root, token: "proctest", tls: newTLSEnv(t, filepath.Join(root, "pki"))}
	return startCluster(c, n, nil)
}

// add issues an identity into dir (unless it exists) and remembers it for
// rotations.
func (e *tlsEnv) add(t *testing.T, dir, cn string, usages []x509.ExtKeyUsage) tlstest.Files {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids[dir] = identity{cn: cn, usages: usages}
	f := tlstest.Files{Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), CA: filepath.Join(dir, "ca.pem")}
	if _, err := os.Stat(f.Cert); err == nil {
		return f
	}
	cert, key := e.issuer.Issue(t, tlstest.Leaf{CN: cn, Usages: usages})
	return tlstest.Write(t, dir, cert, key, e.trust)
}

// memberFlags issues m's server and peer leaves (first start only) and
// returns etcd's TLS flags for them.
func (e *tlsEnv) memberFlags(t *testing.T, m *member) []string {
	t.Helper()
	srv := e.add(t, filepath.Join(e.dir, m.name, "server"), m.name, tlstest.ServerAndClient)
	peer := e.add(t, filepath.Join(e.dir, m.name, "peer"), m.name, tlstest.ServerAndClient)
	return []string{
		"--cert-file", srv.Cert, "--key-file", srv.Key, "--trusted-ca-file", srv.CA, "--client-cert-auth",
		"--peer-cert-file", peer.Cert, "--peer-key-file", peer.Key, "--peer-trusted-ca-file", peer.CA, "--peer-client-cert-auth",
	}
}

// clientConfig loads a client identity as it is on disk now.
func (e *tlsEnv) clientConfig(t *testing.T, f tlstest.Files) *tls.Config {
	t.Helper()
	creds, err := tlsconfig.New(tlsconfig.Files{CertFile: f.Cert, KeyFile: f.Key, TrustedCAFile: f.CA}, tlsconfig.Client, nil)
	if err != nil {
		t.Fatalf("client TLS: %v", err)
	}
	return creds.ClientConfig()
}

// appClient connects with the application's files as they are now, like
// an application that reloads them. A read between the writes of a
// rotation (new key, old certificate) is retried, as such an application
// would; it is not a TLS failure of the cluster.
func (e *tlsEnv) appClient(c *cluster) (*clientv3.Client, error) {
	for {
		creds, err := tlsconfig.New(tlsconfig.Files{CertFile: e.app.Cert, KeyFile: e.app.Key, TrustedCAFile: e.app.CA}, tlsconfig.Client, nil)
		if err == nil {
			return newTLSClient(c, creds.ClientConfig())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setTrust writes bundle into every identity's ca.pem.
func (e *tlsEnv) setTrust(t *testing.T, bundle []byte) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.trust = bundle
	for dir := range e.ids {
		tlstest.WriteFile(t, filepath.Join(dir, "ca.pem"), bundle)
	}
}

// reissue makes ca the issuer and replaces every leaf with one it signed
// (key first, then certificate: a reader between the two keeps the old
// pair, see tlsconfig's torn-rotation rule).
func (e *tlsEnv) reissue(t *testing.T, ca *tlstest.CA) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.issuer = ca
	for dir, id := range e.ids {
		cert, key := ca.Issue(t, tlstest.Leaf{CN: id.cn, Usages: id.usages})
		tlstest.WriteFile(t, filepath.Join(dir, "key.pem"), key)
		tlstest.WriteFile(t, filepath.Join(dir, "cert.pem"), cert)
	}
}
