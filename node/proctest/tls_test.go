package proctest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kuberaft/kuberaft/node/kvmodel"
	"github.com/kuberaft/kuberaft/node/tlsconfig/tlstest"
)

// TestTLSRefusals runs a 3-member cluster with mutual TLS on the client
// and peer ports and checks who gets in: the operator's and an
// application's certificates work; plaintext, another CA, expired and
// not-yet-valid certificates are refused, and the member logs why; only
// the operator's CN may change membership; a member holding a
// client-only peer certificate refuses to start; etcdctl works with
// --cacert/--cert/--key and is refused without them.
func TestTLSRefusals(t *testing.T) {
	c := newTLSCluster(t, 3)
	app := tlsClient(t, c, c.tls.clientConfig(t, c.tls.app))
	if _, err := app.Put(ctxT(t, 20*time.Second), "k", "v"); err != nil {
		t.Fatalf("application put over mTLS: %v", err)
	}

	t.Run("plaintext", func(t *testing.T) {
		cli := tlsClient(t, c, nil)
		if _, err := cli.Put(ctxT(t, 3*time.Second), "k", "plain"); err == nil {
			t.Fatal("a plaintext put succeeded")
		}
		c.waitLog(t, "refused a TLS connection")
	})
	now := time.Now()
	other := tlstest.NewCA(t, "other-ca")
	for _, tt := range []struct {
		name   string
		ca     *tlstest.CA
		leaf   tlstest.Leaf
		reason string // in a member's log
	}{
		{"another CA", other, tlstest.Leaf{CN: "app"}, "certificate signed by unknown authority"},
		{"expired", c.tls.issuer, tlstest.Leaf{CN: "app", NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)}, "certificate has expired"},
		{"not yet valid", c.tls.issuer, tlstest.Leaf{CN: "app", NotBefore: now.Add(time.Hour)}, "is before"},
		{"server-only usage", c.tls.issuer, tlstest.Leaf{CN: "app", Usages: tlstest.ServerOnly}, "incompatible key usage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.leaf.Usages == nil {
				tt.leaf.Usages = tlstest.ClientOnly
			}
			cert, key := tt.ca.Issue(t, tt.leaf)
			cli := tlsClient(t, c, forcedClientCert(t, c.tls.issuer, cert, key))
			if _, err := cli.Put(ctxT(t, 3*time.Second), "k", tt.name); err == nil {
				t.Fatalf("a put with a %s certificate succeeded", tt.name)
			}
			c.waitLog(t, tt.reason)
		})
	}

	t.Run("membership only for the operator", func(t *testing.T) {
		ids := memberIDs(t, app)
		_, err := app.MemberRemove(ctxT(t, 10*time.Second), ids[0])
		if err == nil || !strings.Contains(err.Error(), "reserved to client certificates") {
			t.Fatalf("application MemberRemove: err = %v, want refused", err)
		}
		op := c.client()
		add, err := op.MemberAddAsLearner(ctxT(t, 20*time.Second), []string{"https://127.0.0.1:1"})
		if err != nil {
			t.Fatalf("operator MemberAddAsLearner: %v", err)
		}
		if _, err := op.MemberRemove(ctxT(t, 20*time.Second), add.Member.ID); err != nil {
			t.Fatalf("operator MemberRemove: %v", err)
		}
	})

	t.Run("client-only peer certificate", func(t *testing.T) {
		m := c.newMember("bad-peer")
		c.tls.add(t, filepath.Join(c.tls.dir, m.name, "peer"), m.name, tlstest.ClientOnly)
		c.members = append(c.members, m)
		c.start(m, "existing", c.initialCluster())
		select {
		case <-m.exited:
		case <-time.After(60 * time.Second):
			t.Fatal("a member with a client-only peer certificate did not exit")
		}
		var exit *exec.ExitError
		if !errors.As(m.exitErr, &exit) || exit.ExitCode() != exitFailure {
			t.Fatalf("exit = %v, want code %d", m.exitErr, exitFailure)
		}
		if log := readFile(t, m.logPath); !strings.Contains(log, "lacks the server auth extended key usage") {
			t.Fatalf("log does not say why:\n%s", log)
		}
	})

	t.Run("etcdctl", func(t *testing.T) { checkEtcdctlTLS(t, c) })
}

// exitFailure is raftnode's runtime-failure exit code (cmd/raftnode).
const exitFailure = 1

// checkEtcdctlTLS runs the real etcdctl (make test sets $ETCDCTL).
func checkEtcdctlTLS(t *testing.T, c *cluster) {
	etcdctl := os.Getenv("ETCDCTL")
	if etcdctl == "" {
		t.Fatal("ETCDCTL is not set: run through make test, or set it to the etcdctl make tools-etcd builds")
	}
	ep := "--endpoints=" + c.members[0].clientURL()
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, etcdctl, append([]string{ep, "--dial-timeout=3s", "--command-timeout=5s"}, args...)...).CombinedOutput()
		return string(out), err
	}
	f := c.tls.app
	certFlags := []string{"--cacert", f.CA, "--cert", f.Cert, "--key", f.Key}
	if out, err := run(append(certFlags, "put", "ctl", "ok")...); err != nil {
		t.Fatalf("etcdctl put with certificates: %v\n%s", err, out)
	}
	if out, err := run(append(certFlags, "get", "ctl", "--print-value-only")...); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("etcdctl get with certificates = %q, %v", out, err)
	}
	if out, err := run("--cacert", f.CA, "put", "ctl", "no-cert"); err == nil {
		t.Fatalf("etcdctl without a client certificate succeeded:\n%s", out)
	}
	if out, err := run("put", "ctl", "nothing"); err == nil {
		t.Fatalf("etcdctl without any TLS flag succeeded:\n%s", out)
	}
}

// TestTLSRotationUnderLoad rotates the CA and every leaf on disk while
// clients write and read, without restarting any member: trust both CAs,
// re-issue every leaf from the new CA, drop the old CA. Load clients
// reconnect every few operations, so handshakes happen throughout with
// whatever files are on disk. No operation may fail for a TLS reason, no
// acknowledged write may be lost, and the history must be linearizable.
// Last, a member restarted with new-CA files is accepted by the others,
// which were never restarted: their peer trust was reloaded.
func TestTLSRotationUnderLoad(t *testing.T) {
	c := newTLSCluster(t, 3)
	hist := kvmodel.NewHistory()
	l, tlsErrs := startTLSLoad(t, c, hist, 4)
	ca2 := tlstest.NewCA(t, "proctest-ca-2")
	ca1 := c.tls.issuer
	steps := []struct {
		name string
		do   func()
	}{
		{"trust both CAs", func() { c.tls.setTrust(t, tlstest.Bundle(ca1, ca2)) }},
		{"re-issue every leaf from the new CA", func() { c.tls.reissue(t, ca2) }},
		{"drop the old CA", func() { c.tls.setTrust(t, ca2.PEM) }},
	}
	waitProgress(t, l, "before rotating")
	for _, s := range steps {
		t.Logf("rotation: %s", s.name)
		s.do()
		waitProgress(t, l, s.name)
	}
	l.stop()
	if errs := tlsErrs(); len(errs) > 0 {
		t.Fatalf("%d operations failed for a TLS reason during the rotation; first: %s", len(errs), errs[0])
	}
	cli := c.client()
	l.checkAcknowledgedWrites(t, cli, hist)
	t.Logf("%d writes acknowledged, %d operations recorded", l.acked.Load(), hist.Len())
	hist.CheckLinearizable(t, 30*time.Second)

	// A client still holding an old-CA certificate is refused now.
	oldCert, oldKey := ca1.Issue(t, tlstest.Leaf{CN: "app", Usages: tlstest.ClientOnly})
	if _, err := tlsClient(t, c, forcedClientCert(t, ca2, oldCert, oldKey)).Put(ctxT(t, 3*time.Second), "k", "old"); err == nil {
		t.Fatal("a certificate of the dropped CA was accepted")
	}
	// New peer handshakes: restart one member; the others must accept its
	// new-CA peer certificate and it theirs.
	victim := c.members[2]
	if err := c.stop(victim, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c.start(victim, "new", c.initialCluster())
	c.waitLeader(60 * time.Second)
	if _, err := c.client(victim.endpoint()).Put(ctxT(t, 30*time.Second), "after", "restart"); err != nil {
		t.Fatalf("put through the restarted member: %v", err)
	}
}

// startTLSLoad runs n clients that open a new connection (and so a new
// handshake, with the files on disk then) every reconnectEvery operations.
// tlsErrs lists the operations that failed for a TLS reason.
func startTLSLoad(t *testing.T, c *cluster, hist *kvmodel.History, n int) (l *load, tlsErrs func() []string) {
	t.Helper()
	const reconnectEvery = 10
	ctx, cancel := context.WithCancel(context.Background())
	l = &load{cancel: cancel, lastAcked: map[int]int{}}
	var errs []string
	record := func(err error) {
		if err != nil && isTLSError(err) {
			l.mu.Lock()
			errs = append(errs, err.Error())
			l.mu.Unlock()
		}
	}
	for id := range n {
		l.wg.Go(func() {
			for seq := 1; ctx.Err() == nil; {
				cli, err := c.tls.appClient(c)
				if err != nil {
					record(err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				for range reconnectEvery {
					seq++
					record(l.putErr(cli, hist, id, fmt.Sprintf("ack/%d", id), seq))
					l.get(cli, hist, id, fmt.Sprintf("shared/%d", seq%sharedKeys))
				}
				_ = cli.Close()
			}
		})
	}
	t.Cleanup(l.stop)
	return l, func() []string { l.mu.Lock(); defer l.mu.Unlock(); return append([]string(nil), errs...) }
}

// putErr puts the client's own key and records it, returning the error.
func (l *load) putErr(cli *clientv3.Client, hist *kvmodel.History, id int, key string, seq int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	val := fmt.Sprint(seq)
	call := hist.Now()
	_, err := cli.Put(ctx, key, val)
	hist.Add(id, kvmodel.Input{Op: kvmodel.OpPut, Key: key, Value: val}, kvmodel.Output{Unknown: err != nil}, call, hist.Now())
	if err == nil {
		l.acked.Add(1)
		l.mu.Lock()
		l.lastAcked[id] = seq
		l.mu.Unlock()
	}
	return err
}

// isTLSError tells whether err comes from a handshake or a certificate.
func isTLSError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "tls:") || strings.Contains(s, "x509:") || strings.Contains(s, "certificate") || strings.Contains(s, "handshake")
}

// waitProgress waits until the load acknowledges more writes (bounded):
// each rotation step runs under real traffic.
func waitProgress(t *testing.T, l *load, step string) {
	t.Helper()
	const more = 40
	start := l.acked.Load()
	deadline := time.Now().Add(90 * time.Second)
	for l.acked.Load() < start+more {
		if time.Now().After(deadline) {
			t.Fatalf("%s: fewer than %d writes acknowledged within 90s", step, more)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tlsClient is a clientv3 client over every member with cfg (nil:
// plaintext).
func tlsClient(t *testing.T, c *cluster, cfg *tls.Config) *clientv3.Client {
	t.Helper()
	cli, err := newTLSClient(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func newTLSClient(c *cluster, cfg *tls.Config) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: c.endpoints(), DialTimeout: 5 * time.Second, TLS: cfg, Logger: zap.NewNop()})
}

// forcedClientCert trusts ca and always presents the given certificate:
// crypto/tls would otherwise hold back one the server's CA list does not
// name, and the member would only see "no certificate".
func forcedClientCert(t *testing.T, ca *tlstest.CA, certPEM, keyPEM []byte) *tls.Config {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil },
	}
}

// waitLog waits (bounded) until some member's log contains s.
func (c *cluster) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.members {
			if data, err := os.ReadFile(m.logPath); err == nil && strings.Contains(string(data), s) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no member logged %q", s)
}

func memberIDs(t *testing.T, cli *clientv3.Client) []uint64 {
	t.Helper()
	resp, err := cli.MemberList(ctxT(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, m := range resp.Members {
		ids = append(ids, m.ID)
	}
	return ids
}
