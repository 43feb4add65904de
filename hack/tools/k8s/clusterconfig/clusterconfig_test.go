package main

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	proxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

func testSpec(t *testing.T) pkiSpec {
	return pkiSpec{Dir: filepath.Join(t.TempDir(), "pki"), NodeIP: "10.1.2.3", NodeName: "node-a",
		ClusterDomain: "cluster.local", APIServerSvcIP: "10.0.0.1"}
}

func readCert(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s.crt: no PEM", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPKI checks what the components rely on: every leaf chains to the
// CA for both client and server auth, carries the upstream identity, and
// the serving certificates carry the SANs clients dial.
func TestPKI(t *testing.T) {
	p := testSpec(t)
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, p.Dir, "ca")
	if !ca.IsCA {
		t.Fatal("ca.crt is not a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, l := range p.leaves() {
		c := readCert(t, p.Dir, l.name)
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s: %v", l.name, err)
			}
		}
		if c.Subject.CommonName != l.cn || (l.org != "" && !slices.Equal(c.Subject.Organization, []string{l.org})) {
			t.Errorf("%s: subject %v, want CN=%s O=%s", l.name, c.Subject, l.cn, l.org)
		}
	}
	api := readCert(t, p.Dir, "apiserver")
	for _, host := range []string{"kubernetes.default.svc.cluster.local", "localhost", "127.0.0.1", "10.0.0.1", "10.1.2.3"} {
		if err := api.VerifyHostname(host); err != nil {
			t.Errorf("apiserver: %v", err)
		}
	}
	if err := readCert(t, p.Dir, "kubelet-serving").VerifyHostname("node-a"); err != nil {
		t.Errorf("kubelet-serving: %v", err)
	}
	if readCert(t, p.Dir, "kubelet").Subject.CommonName != "system:node:node-a" {
		t.Error("kubelet client identity is not system:node:<node>")
	}
	for _, f := range []string{"sa.key", "sa.pub", "node-ip"} {
		if _, err := os.Stat(filepath.Join(p.Dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestPKIIsKeptForTheSameNodeIP: `up` after `down`/crash reuses the PKI;
// a new node IP (it is in the SANs) makes a new one.
func TestPKIIsKeptForTheSameNodeIP(t *testing.T) {
	p := testSpec(t)
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	serial := readCert(t, p.Dir, "ca").SerialNumber
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	if readCert(t, p.Dir, "ca").SerialNumber.Cmp(serial) != 0 {
		t.Error("same node IP: the CA was regenerated")
	}
	p.NodeIP = "10.1.2.4"
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	if readCert(t, p.Dir, "ca").SerialNumber.Cmp(serial) == 0 {
		t.Error("new node IP: the PKI was kept")
	}
	if !readCert(t, p.Dir, "apiserver").IPAddresses[2].Equal(net.ParseIP("10.1.2.4")) {
		t.Error("new node IP is not in the apiserver's SANs")
	}
}

// TestKubeconfigs: each file loads with client-go and names the
// component's own certificate.
func TestKubeconfigs(t *testing.T) {
	p := testSpec(t)
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	admin := filepath.Join(dir, "admin.kubeconfig")
	if err := run([]string{"kubeconfigs", "-pki", p.Dir, "-server", "https://127.0.0.1:6443", "-admin", admin, "-dir", dir}, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, c := range append([]string{"admin"}, components...) {
		path := filepath.Join(dir, c+".kubeconfig")
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		crt, err := os.ReadFile(filepath.Join(p.Dir, c+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		if rc.Host != "https://127.0.0.1:6443" || string(rc.CertData) != string(crt) || len(rc.CAData) == 0 || len(rc.KeyData) == 0 {
			t.Errorf("%s: host %s, cert matches %v", c, rc.Host, string(rc.CertData) == string(crt))
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", c, st.Mode(), err)
		}
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	for _, args := range [][]string{
		nil, {"certs"}, {"pki", "-dir", t.TempDir(), "-node-name", "n", "-node-ip", "x", "-apiserver-svc-ip", "10.0.0.1"},
		{"kubeconfigs", "-pki", t.TempDir()},
	} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("run(%q) accepted", args)
		}
	}
}

// TestComponents: both files decode strictly (no unknown or misspelt key)
// into the components' types with the values the cluster relies on.
func TestComponents(t *testing.T) {
	dir := t.TempDir()
	err := run([]string{"components", "-etc", dir, "-pki", "/p", "-data", "/d", "-node-ip", "10.1.2.3", "-node-name", "node-a",
		"-cluster-domain", "cluster.local", "-dns-svc-ip", "10.0.0.10", "-pod-cidr", "10.88.0.0/16", "-containerd-sock", "/run/c.sock"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var kc kubeletv1beta1.KubeletConfiguration
	readStrict(t, filepath.Join(dir, "kubelet.yaml"), &kc)
	if kc.Kind != "KubeletConfiguration" || kc.Address != "10.1.2.3" || kc.ContainerRuntimeEndpoint != "unix:///run/c.sock" ||
		kc.FailCgroupV1 == nil || *kc.FailCgroupV1 || kc.Authentication.Anonymous.Enabled == nil || *kc.Authentication.Anonymous.Enabled ||
		!slices.Equal(kc.ClusterDNS, []string{"10.0.0.10"}) || kc.TLSCertFile != "/p/kubelet-serving.crt" || kc.EvictionHard["nodefs.available"] != "1%" {
		t.Errorf("kubelet config = %+v", kc)
	}
	var pc proxyv1alpha1.KubeProxyConfiguration
	readStrict(t, filepath.Join(dir, "kube-proxy.yaml"), &pc)
	if pc.Kind != "KubeProxyConfiguration" || pc.Mode != "iptables" || pc.ClusterCIDR != "10.88.0.0/16" ||
		pc.Conntrack.MaxPerCore == nil || *pc.Conntrack.MaxPerCore != 0 || pc.ClientConnection.Kubeconfig != filepath.Join(dir, "kube-proxy.kubeconfig") {
		t.Errorf("kube-proxy config = %+v", pc)
	}
	if err := run([]string{"components", "-etc", dir}, io.Discard); err == nil {
		t.Error("components with missing flags accepted")
	}
}

func readStrict(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
}
