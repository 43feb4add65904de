package certs

import (
	"fmt"
	"net"
)

// ClusterNames are the DNS names a cluster's leaves must cover.
type ClusterNames struct {
	Name, Namespace string
	// PeerService is the headless Service giving pods their DNS names.
	PeerService string
	// ClientServices are the Services clients reach the cluster by.
	ClientServices []string
	// Domain is the cluster DNS suffix, e.g. cluster.local.
	Domain string
}

// OperatorCommonName is the operator's client identity, the only one the
// nodes let change membership (raftnode --membership-allowed-cn).
const OperatorCommonName = "kuberaft-operator"

// podWildcards match every member pod: <pod>.<peer-svc>.<ns>.svc[.<domain>].
// One shared leaf per role, since a StatefulSet mounts the same Secret in
// every pod.
func (n ClusterNames) podWildcards() []string {
	base := fmt.Sprintf("%s.%s.svc", n.PeerService, n.Namespace)
	return []string{"*." + base, "*." + base + "." + n.Domain}
}

// ServerSpec is the client-port leaf: pods, client Services, localhost.
func ServerSpec(n ClusterNames) LeafSpec {
	dns := n.podWildcards()
	for _, svc := range n.ClientServices {
		dns = append(dns, svc, svc+"."+n.Namespace, svc+"."+n.Namespace+".svc", svc+"."+n.Namespace+".svc."+n.Domain)
	}
	dns = append(dns, "localhost")
	return LeafSpec{CommonName: n.Name, Usage: Server, DNSNames: dns, IPs: []net.IP{net.IPv4(127, 0, 0, 1).To4()}}
}

// PeerSpec is the peer-port leaf.
func PeerSpec(n ClusterNames) LeafSpec {
	return LeafSpec{CommonName: n.Name + "-peer", Usage: Peer, DNSNames: n.podWildcards()}
}

// ClientSpec is the leaf for applications (<name>-client-tls); its CN is
// not the operator's, so it cannot change membership.
func ClientSpec(n ClusterNames) LeafSpec {
	return LeafSpec{CommonName: n.Name + "-client", Usage: Client}
}

// OperatorSpec is the operator's own client leaf for this cluster.
func OperatorSpec() LeafSpec { return LeafSpec{CommonName: OperatorCommonName, Usage: Client} }
