//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Every scenario's cluster runs the default mutual TLS (spec.tls Managed):
// the suite connects like an application, with the certificate the
// operator issued in <name>-client-tls. It dials IPs (ClusterIP, pod IP),
// while the certificates name DNS names, so each endpoint is registered
// with the name to verify: the client Service's, or the pod's.
var endpointTLS sync.Map // host:port -> *tls.Config

// tlsFor returns the client TLS config registered for endpoint, or nil.
func tlsFor(endpoint string) *tls.Config {
	if v, ok := endpointTLS.Load(endpoint); ok {
		return v.(*tls.Config).Clone()
	}
	return nil
}

// clientTLS reads the application certificate of the cluster and verifies
// servers as serverName.
func (rc *raftCluster) clientTLS(ctx context.Context, serverName string) (*tls.Config, error) {
	id, err := rc.readIdentity(ctx)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{id.pair}, RootCAs: id.pool, ServerName: serverName}, nil
}

// registerService registers the client Service endpoint.
func (rc *raftCluster) registerService(ctx context.Context, endpoint string) error {
	cfg, err := rc.clientTLS(ctx, fmt.Sprintf("%s.%s.svc", rc.name, rc.ns))
	if err != nil {
		return err
	}
	endpointTLS.Store(endpoint, cfg)
	return nil
}

// podTLS is the client TLS config for one member pod.
func (rc *raftCluster) podTLS(ctx context.Context, pod string) (*tls.Config, error) {
	return rc.clientTLS(ctx, fmt.Sprintf("%s.%s-peer.%s.svc", pod, rc.name, rc.ns))
}

// podEndpoint is a pod's own client endpoint (for serializable reads that
// show what that member holds locally), registered for TLS. A failure to
// read the certificate leaves it plaintext, which the member refuses: the
// caller's poll reports it.
func (rc *raftCluster) podEndpoint(ctx context.Context, p *corev1.Pod) string {
	endpoint := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(clientPort))
	if cfg, err := rc.podTLS(ctx, p.Name); err == nil {
		endpointTLS.Store(endpoint, cfg)
	}
	return endpoint
}
