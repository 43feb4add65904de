package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"

	"github.com/kuberaft/kuberaft/node/server"
	"github.com/kuberaft/kuberaft/node/tlsconfig"
)

// addTLSFlags adds etcd's TLS flags (same names and meaning: a trusted CA
// file alone turns client certificate verification on) and our
// membership guard.
func addTLSFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.clientTLS.CertFile, "cert-file", "", "Path to the client server TLS cert file; makes the client URLs https.")
	fs.StringVar(&o.clientTLS.KeyFile, "key-file", "", "Path to the client server TLS key file.")
	fs.StringVar(&o.clientTLS.TrustedCAFile, "trusted-ca-file", "", "Path to the client server TLS trusted CA bundle; clients must present a certificate it signed.")
	fs.BoolVar(&o.clientTLS.ClientCertAuth, "client-cert-auth", false, "Enable client cert authentication.")
	fs.StringVar(&o.peerTLS.CertFile, "peer-cert-file", "", "Path to the peer TLS cert file (server and client usage); makes the peer URLs https.")
	fs.StringVar(&o.peerTLS.KeyFile, "peer-key-file", "", "Path to the peer TLS key file.")
	fs.StringVar(&o.peerTLS.TrustedCAFile, "peer-trusted-ca-file", "", "Path to the peer TLS trusted CA bundle.")
	fs.BoolVar(&o.peerTLS.ClientCertAuth, "peer-client-cert-auth", false, "Enable peer client cert authentication.")
	fs.StringSliceVar(&o.membershipAllowedCNs, "membership-allowed-cn", []string{server.DefaultMembershipAllowedCN},
		"Client certificate common names allowed to change membership and move the leader, once the client port verifies client certificates.")
}

// scheme is the URL scheme a port with these TLS files speaks.
func scheme(f tlsconfig.Files) string {
	if f.Enabled() {
		return "https"
	}
	return "http"
}

// schemeReason explains each scheme in a refused URL's message.
var schemeReason = map[string]string{
	"http":  "https needs the matching --cert-file/--key-file or --peer-cert-file/--peer-key-file; probes and metrics are always http",
	"https": "TLS files are set for this port, so plaintext would be refused",
}

// verifiesClients tells whether the client port demands client
// certificates, which is when membership calls can be tied to one.
func verifiesClients(f tlsconfig.Files) bool { return f.ClientCertAuth || f.TrustedCAFile != "" }

// nodeCredentials are the client-port and peer TLS credentials; nil for
// a port without TLS files.
type nodeCredentials struct {
	client, peer credentials.TransportCredentials
}

// newCredentials loads the TLS files once, so a missing or bad file stops
// the node at start with the reason; afterwards they are re-read at every
// handshake (rotation needs no restart). Refused handshakes are logged
// with the reason, which the refused client itself never learns (etcd
// #14324).
func newCredentials(o options, log *zap.Logger) (nodeCredentials, error) {
	var nc nodeCredentials
	for _, p := range []struct {
		files tlsconfig.Files
		role  tlsconfig.Role
		port  string
		out   *credentials.TransportCredentials
	}{
		{o.clientTLS, tlsconfig.ClientPort, "client", &nc.client},
		{o.peerTLS, tlsconfig.Peer, "peer", &nc.peer},
	} {
		if !p.files.Enabled() {
			continue
		}
		onError := func(err error) { log.Warn("TLS problem", zap.String("port", p.port), zap.Error(err)) }
		c, err := tlsconfig.New(p.files, p.role, onError)
		if err != nil {
			return nc, fmt.Errorf("%s TLS: %w", p.port, err)
		}
		*p.out = c
	}
	return nc, nil
}
