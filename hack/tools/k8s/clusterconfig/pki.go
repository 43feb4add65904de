package main

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
	"os"
	"path/filepath"
	"strings"
	"time"
)

// validity of every certificate: the cluster is thrown away long before.
const validity = 10 * 365 * 24 * time.Hour

// pkiSpec is what the certificates depend on. One EC P-256 CA signs every
// certificate (RSA-2048 took 7 s on 2 cores). Identities follow upstream's
// conventions so the Node and RBAC authorizers grant each component exactly
// its built-in role.
type pkiSpec struct {
	Dir, NodeIP, NodeName, ClusterDomain, APIServerSvcIP string
}

// leaf is one certificate signed by the CA.
type leaf struct {
	name, cn, org string
	dns           []string
	ips           []string
}

func (p pkiSpec) leaves() []leaf {
	svcDNS := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + p.ClusterDomain, "localhost"}
	return []leaf{
		{name: "apiserver", cn: "kube-apiserver", dns: svcDNS, ips: []string{"127.0.0.1", p.APIServerSvcIP, p.NodeIP}},
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", org: "system:masters"},
		{name: "admin", cn: "kubernetes-admin", org: "system:masters"},
		{name: "controller-manager", cn: "system:kube-controller-manager"},
		{name: "scheduler", cn: "system:kube-scheduler"},
		{name: "kubelet", cn: "system:node:" + p.NodeName, org: "system:nodes"},
		{name: "kubelet-serving", cn: p.NodeName, dns: []string{p.NodeName}, ips: []string{p.NodeIP, "127.0.0.1"}},
		{name: "kube-proxy", cn: "system:kube-proxy"},
		{name: "coredns", cn: "system:coredns"},
	}
}

func (p pkiSpec) check() error {
	if p.Dir == "" || p.NodeName == "" || p.ClusterDomain == "" {
		return errors.New("pki: -dir, -node-name and -cluster-domain are required")
	}
	for _, ip := range []string{p.NodeIP, p.APIServerSvcIP} {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("pki: %q is not an IP (-node-ip, -apiserver-svc-ip)", ip)
		}
	}
	return nil
}

// write creates the CA, every leaf and the service-account key pair, unless
// the directory already holds them for this node IP (the IP is in the
// SANs; everything else is fixed).
func (p pkiSpec) write() error {
	if err := p.check(); err != nil {
		return err
	}
	if ip, err := os.ReadFile(filepath.Join(p.Dir, "node-ip")); err == nil && strings.TrimSpace(string(ip)) == p.NodeIP {
		if _, err := os.Stat(filepath.Join(p.Dir, "sa.pub")); err == nil {
			return nil
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	ca, caKey, err := p.writeCA()
	if err != nil {
		return err
	}
	for _, l := range p.leaves() {
		if err := p.writeLeaf(l, ca, caKey); err != nil {
			return fmt.Errorf("pki: %s: %w", l.name, err)
		}
	}
	if err := p.writeServiceAccountKey(); err != nil {
		return err
	}
	// Written last: its presence says the PKI is complete.
	return os.WriteFile(filepath.Join(p.Dir, "node-ip"), []byte(p.NodeIP+"\n"), 0o600)
}

func (p pkiSpec) writeCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl, err := template(pkix.Name{CommonName: "kuberaft-local-ca"})
	if err != nil {
		return nil, nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, p.writePair("ca", der, key)
}

func (p pkiSpec) writeLeaf(l leaf, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	name := pkix.Name{CommonName: l.cn}
	if l.org != "" {
		name.Organization = []string{l.org}
	}
	tmpl, err := template(name)
	if err != nil {
		return err
	}
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tmpl.DNSNames = l.dns
	for _, ip := range l.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return p.writePair(l.name, der, key)
}

// template is a certificate valid from a minute ago (clock skew between
// the processes' reads of the clock) for validity, with a random serial.
func template(subject pkix.Name) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{SerialNumber: serial, Subject: subject,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(validity)}, nil
}

// writePair writes NAME.crt and NAME.key (SEC1 "EC PRIVATE KEY", what
// openssl ecparam wrote and every component reads).
func (p pkiSpec) writePair(name string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(p.Dir, name+".key"), "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(filepath.Join(p.Dir, name+".crt"), "CERTIFICATE", der, 0o644)
}

// writeServiceAccountKey writes sa.key and sa.pub, the pair the apiserver
// signs and verifies service-account tokens with.
func (p pkiSpec) writeServiceAccountKey() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(p.Dir, "sa.key"), "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(filepath.Join(p.Dir, "sa.pub"), "PUBLIC KEY", pubDER, 0o644)
}

// writePEM writes one PEM block; keys are private to root (the directory
// is 0700 as well), certificates and public keys readable as openssl left
// them.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}
