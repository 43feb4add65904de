//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	raftv1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/certs"
)

// identity is one reading of the application Secret <name>-client-tls.
type identity struct {
	pair tls.Certificate
	pool *x509.CertPool
}

// identityFollower keeps the latest identity of a cluster's application
// Secret, as an application that mounts the Secret and re-reads it would:
// its TLS configs take the certificate and the trusted CAs of the moment
// at each handshake, so clients keep connecting through a CA rotation.
type identityFollower struct {
	rc  *raftCluster
	cur atomic.Pointer[identity]
}

// readIdentity reads the cluster's application identity now.
func (rc *raftCluster) readIdentity(ctx context.Context) (*identity, error) {
	var sec corev1.Secret
	if err := rc.s.c.Get(ctx, client.ObjectKey{Namespace: rc.ns, Name: rc.name + "-client-tls"}, &sec); err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(sec.Data["ca.crt"]) {
		return nil, errors.New("client certificate: ca.crt has no certificate")
	}
	return &identity{pair: pair, pool: pool}, nil
}

// followIdentity re-reads the application Secret every second until the
// test ends.
func (rc *raftCluster) followIdentity(t *testing.T) *identityFollower {
	t.Helper()
	f := &identityFollower{rc: rc}
	eventually(t, time.Minute, time.Second, "the application certificate", func(ctx context.Context) (bool, string) {
		id, err := rc.readIdentity(ctx)
		if err != nil {
			return false, err.Error()
		}
		f.cur.Store(id)
		return true, ""
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			if id, err := rc.readIdentity(rctx); err == nil {
				f.cur.Store(id) // on error keep the last good one, as a file watcher would
			}
			rcancel()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// config verifies servers as serverName against the CAs trusted at the
// handshake and presents the certificate current then.
func (f *identityFollower) config(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &f.cur.Load().pair, nil
		},
		// crypto/tls checks RootCAs fixed at config time; the bundle
		// changes during a rotation, so the chain is checked here instead
		// against the current one (the usual pattern for reloaded CAs).
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, f.cur.Load().pool)
		},
	}
}

func verifyServer(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// caState reads the cluster's managed CA Secret.
func (rc *raftCluster) caState(ctx context.Context) (certs.CAState, error) {
	var sec corev1.Secret
	if err := rc.s.c.Get(ctx, client.ObjectKey{Namespace: rc.ns, Name: rc.name + "-ca"}, &sec); err != nil {
		return certs.CAState{}, err
	}
	return certs.DecodeCA(sec.Data, sec.Annotations)
}

// servedLeaf is the certificate a member serves on addr, as seen in a
// handshake with id (which the peer port refuses: an application
// certificate is not a peer's; the server's certificate arrives before).
func servedLeaf(ctx context.Context, addr string, id *identity) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	d := tls.Dialer{Config: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       []tls.Certificate{id.pair},
		InsecureSkipVerify: true, //nolint:gosec // only the served certificate is looked at
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				leaf = cs.PeerCertificates[0]
			}
			return nil
		},
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		_ = conn.Close()
	}
	if leaf == nil {
		return nil, fmt.Errorf("no certificate from %s: %w", addr, err)
	}
	return leaf, nil
}

// admits reports whether the member at addr lets a client holding id in:
// under TLS 1.3 a refused client certificate shows only on the first read,
// so an HTTP/2 preface is sent and the server's first frame awaited.
func admits(ctx context.Context, addr string, id *identity) error {
	d := tls.Dialer{Config: &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{id.pair}, NextProtos: []string{"h2"},
		InsecureSkipVerify: true, //nolint:gosec // the question is the server's verdict on the client
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 64))
	return err
}

// peerPort is the members' peer port (the client port is clientPort).
const peerPort = 2380

// everyMember checks cond on every member's address for each of ports.
func (rc *raftCluster) everyMember(ctx context.Context, ports []int, cond func(ctx context.Context, addr string) error) (bool, string) {
	pods, err := rc.s.pods(ctx, rc.ns)
	if err != nil {
		return false, err.Error()
	}
	for _, p := range pods {
		if p.Status.PodIP == "" {
			return false, p.Name + " has no IP"
		}
		for _, port := range ports {
			addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port))
			if err := cond(ctx, addr); err != nil {
				return false, fmt.Sprintf("%s %s: %v", p.Name, addr, err)
			}
		}
	}
	return true, ""
}

// testCARotationUnderLoad: `kubectl annotate raftcluster rot
// raft.kuberaft.io/rotate-ca=<time>` rotates the managed CA while clients
// write and read through the client Service: a new CA is trusted next to
// the old one, every leaf (server, peer, client, operator) is re-issued from
// it with a new key and the members reload them without a restart, then
// the old CA is dropped, after which the application certificate of before
// the rotation is refused. Then one leaf alone is rotated by deleting its
// Secret (`kubectl delete secret rot-server-tls`). The clients follow the application Secret (as an
// app that re-reads its mounted files does). No acknowledged write is lost
// and the history is linearizable; the cluster stays converged.
func testCARotationUnderLoad(t *testing.T) {
	s := env
	sc := s.newScenario(t, "rotate")
	rc := s.applyCluster(t, sc.ns, "rot", 3, s.tagA)
	rc.waitConverged(t, 3, 5*time.Minute)
	endpoint := rc.clientEndpoint(t)
	f := rc.followIdentity(t)
	endpointTLS.Store(endpoint, f.config(fmt.Sprintf("%s.%s.svc", rc.name, rc.ns)))
	before := f.cur.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old, err := rc.caState(ctx)
	if err != nil || old.Rotating() {
		t.Fatalf("CA before the rotation: %v (rotating %v)", err, old.Rotating())
	}
	eventually(t, time.Minute, time.Second, "every member to admit the application certificate", func(ctx context.Context) (bool, string) {
		// Only the client port: the peer port admits peers only.
		return rc.everyMember(ctx, []int{clientPort}, func(ctx context.Context, addr string) error {
			return admits(ctx, addr, before)
		})
	})

	load := startLoad(t, endpoint, "rotate")
	from := time.Now()
	s.mustKubectl(t, "", "-n", rc.ns, "annotate", "raftcluster", rc.name, "--overwrite",
		raftv1.AnnotationRotateCA+"="+from.UTC().Format(time.RFC3339))

	var next *x509.Certificate
	eventually(t, time.Minute, time.Second, "a new CA next to the old one", func(ctx context.Context) (bool, string) {
		st, err := rc.caState(ctx)
		if err != nil {
			return false, err.Error()
		}
		if st.Next != nil {
			next = st.Next.Cert
		}
		return next != nil, fmt.Sprintf("rotating %v", st.Rotating())
	})
	sc.figure("new CA introduced %s after the request", time.Since(from).Round(100*time.Millisecond))

	eventually(t, 5*time.Minute, 2*time.Second, "every member to serve leaves of the new CA", func(ctx context.Context) (bool, string) {
		return rc.everyMember(ctx, []int{clientPort, peerPort}, func(ctx context.Context, addr string) error {
			leaf, err := servedLeaf(ctx, addr, f.cur.Load())
			if err != nil {
				return err
			}
			if leaf.CheckSignatureFrom(next) != nil {
				return fmt.Errorf("serves a leaf of %q, serial %s, not of the new CA", leaf.Issuer.CommonName, leaf.SerialNumber)
			}
			return nil
		})
	})
	sc.figure("every member serves leaves of the new CA %s after the request", time.Since(from).Round(100*time.Millisecond))

	eventually(t, 5*time.Minute, 2*time.Second, "the old CA dropped and the old application certificate refused", func(ctx context.Context) (bool, string) {
		st, err := rc.caState(ctx)
		if err != nil {
			return false, err.Error()
		}
		if st.Rotating() || !st.Current.Cert.Equal(next) {
			return false, fmt.Sprintf("CA Secret still rotating (next %v, retired %d)", st.Next != nil, len(st.Retired))
		}
		return rc.everyMember(ctx, []int{clientPort}, func(ctx context.Context, addr string) error {
			switch err := admits(ctx, addr, before); {
			case err == nil:
				return errors.New("still admits the application certificate of the old CA")
			case !strings.Contains(err.Error(), "remote error: tls:"):
				// Refused by the network, not by the member's TLS: proves nothing.
				return fmt.Errorf("no TLS verdict: %w", err)
			}
			return nil
		})
	})
	sc.figure("old CA dropped, old application certificate refused %s after the request", time.Since(from).Round(100*time.Millisecond))

	// A leaf alone (same CA): deleting its Secret makes the operator issue
	// a new one, which the members load without a restart.
	oldSerial := rc.servingSerial(t)
	begin := time.Now()
	s.mustKubectl(t, "", "-n", rc.ns, "delete", "secret", rc.name+"-server-tls")
	eventually(t, 2*time.Minute, 2*time.Second, "every member to serve the re-issued server leaf", func(ctx context.Context) (bool, string) {
		return rc.everyMember(ctx, []int{clientPort}, func(ctx context.Context, addr string) error {
			leaf, err := servedLeaf(ctx, addr, f.cur.Load())
			if err != nil {
				return err
			}
			if leaf.SerialNumber.Cmp(oldSerial) == 0 || leaf.CheckSignatureFrom(next) != nil {
				return fmt.Errorf("still serves serial %s of %q", leaf.SerialNumber, leaf.Issuer.CommonName)
			}
			return nil
		})
	})
	done := time.Now()
	sc.figure("server leaf re-issued after its Secret was deleted, served by every member %s later", done.Sub(begin).Round(100*time.Millisecond))

	// Writes acknowledged after the rotation: the clients went on through it.
	eventually(t, time.Minute, time.Second, "writes acknowledged after the rotation", func(context.Context) (bool, string) {
		n := load.ackedSince(done)
		return n >= 20, fmt.Sprintf("%d acknowledged since", n)
	})
	rep := load.stopAndVerify(t, endpoint, "rotate", filepath.Join(s.artifacts, "rotate-porcupine.html"), from, time.Now())
	sc.report(rep)
	rc.waitConverged(t, 3, time.Minute)
}

// servingSerial is the serial of the server leaf in <name>-server-tls.
func (rc *raftCluster) servingSerial(t *testing.T) *big.Int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sec corev1.Secret
	if err := rc.s.c.Get(ctx, client.ObjectKey{Namespace: rc.ns, Name: rc.name + "-server-tls"}, &sec); err != nil {
		t.Fatal(err)
	}
	kp, err := certs.ParseKeyPair(sec.Data[certs.KeyCert], sec.Data[certs.KeyKey])
	if err != nil {
		t.Fatal(err)
	}
	return kp.Cert.SerialNumber
}

// testNoClientCertRefused: a pod in the cluster's namespace that connects
// without a client certificate (smokeapp tlsprobe) is refused on the client
// port (through the client Service) and on the peer port with a TLS alert
// from the member: it reaches the member and gets no data.
func testNoClientCertRefused(t *testing.T) {
	s := env
	sc := s.newScenario(t, "nocert")
	rc := s.applyCluster(t, sc.ns, "nc", 1, s.tagA)
	rc.waitConverged(t, 1, 5*time.Minute)
	// Wait until the client Service answers (kube-proxy programmed it): a
	// probe before that gets "connection refused", which proves nothing.
	rc.clientEndpoint(t)
	probes := map[string]string{
		"client": fmt.Sprintf("%s:%d", rc.name, clientPort),
		"peer":   fmt.Sprintf("%s-0.%s-peer:%d", rc.name, rc.name, peerPort),
	}
	pod := probePod(sc.ns, "nocert-probe", "kuberaft.local/smokeapp:"+s.tagA, probes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.c.Create(ctx, pod); err != nil {
		t.Fatalf("create the probe pod: %v", err)
	}
	eventually(t, 2*time.Minute, time.Second, "the probe pod to finish", func(ctx context.Context) (bool, string) {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err.Error()
		}
		return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed, string(pod.Status.Phase)
	})
	for name := range probes {
		out := s.mustKubectl(t, "", "-n", sc.ns, "logs", pod.Name, "-c", name)
		var code int32 = -1
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name == name && cs.State.Terminated != nil {
				code = cs.State.Terminated.ExitCode
			}
		}
		// "remote error": the member itself sent the alert (certificate
		// required, or bad certificate under TLS 1.2), so the probe got
		// through the network and was refused by TLS, not by a timeout.
		if code != 1 || !strings.Contains(out, "refused:") || !strings.Contains(out, "remote error: tls:") {
			t.Errorf("%s port (%s): exit code %d, output %q; want a TLS refusal from the member", name, probes[name], code, out)
			continue
		}
		verdict, _, _ := strings.Cut(out[strings.Index(out, "refused:"):], "\n")
		sc.figure("%s port without a client certificate: %s", name, verdict)
	}
}

// probePod runs smokeapp tlsprobe once per address, one container each,
// under the restricted Pod Security profile.
func probePod(ns, name, image string, probes map[string]string) *corev1.Pod {
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = ns, name
	uid := int64(65532)
	pod.Spec = corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: &uid, RunAsGroup: &uid,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
	}
	for c, addr := range probes {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
			Name: c, Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"/smokeapp", "tlsprobe", addr},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		})
	}
	return pod
}
