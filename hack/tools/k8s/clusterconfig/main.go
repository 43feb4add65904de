// Command clusterconfig writes the offline cluster's certificates and
// kubeconfigs and the kubelet's and kube-proxy's configuration files
// (hack/local-cluster.sh calls it; bash only starts and stops processes).
// Typed Go instead of openssl and heredocs: crypto/x509 builds the
// certificates, client-go's clientcmd writes the kubeconfigs, and the
// components' own config structs the configuration files, so a field
// cannot be misspelt and nothing depends on the host's openssl.
//
//	clusterconfig pki -dir PKI -node-ip IP -node-name NAME -cluster-domain D -apiserver-svc-ip IP
//	clusterconfig kubeconfigs -pki PKI -server URL -admin FILE -dir DIR
//	clusterconfig components -etc DIR -pki PKI -data DIR -node-ip IP -node-name NAME \
//	    -cluster-domain D -dns-svc-ip IP -pod-cidr CIDR -containerd-sock PATH
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "clusterconfig:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: clusterconfig pki|kubeconfigs|components [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "pki":
		var p pkiSpec
		fs.StringVar(&p.Dir, "dir", "", "directory of the PKI (created)")
		fs.StringVar(&p.NodeIP, "node-ip", "", "the node's IP (apiserver and kubelet serving SANs)")
		fs.StringVar(&p.NodeName, "node-name", "", "the node's name")
		fs.StringVar(&p.ClusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain")
		fs.StringVar(&p.APIServerSvcIP, "apiserver-svc-ip", "", "ClusterIP of the kubernetes Service")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return p.write()
	case "kubeconfigs":
		var k kubeconfigSpec
		fs.StringVar(&k.PKI, "pki", "", "directory of the PKI")
		fs.StringVar(&k.Server, "server", "", "the apiserver's URL")
		fs.StringVar(&k.AdminPath, "admin", "", "path of the admin kubeconfig")
		fs.StringVar(&k.Dir, "dir", "", "directory of the components' kubeconfigs (<component>.kubeconfig)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return k.write()
	case "components":
		var c componentsSpec
		for _, f := range []struct {
			v          *string
			name, help string
		}{
			{&c.Etc, "etc", "directory of the configuration files"}, {&c.PKI, "pki", "directory of the PKI"},
			{&c.Data, "data", "the cluster's data directory"}, {&c.NodeIP, "node-ip", "the node's IP"},
			{&c.NodeName, "node-name", "the node's name"}, {&c.ClusterDomain, "cluster-domain", "cluster DNS domain"},
			{&c.DNSServiceIP, "dns-svc-ip", "ClusterIP of kube-dns"}, {&c.PodCIDR, "pod-cidr", "the pods' CIDR"},
			{&c.ContainerdSock, "containerd-sock", "path of containerd's socket"},
		} {
			fs.StringVar(f.v, f.name, "", f.help)
		}
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return c.write()
	}
	return fmt.Errorf("unknown command %q (want pki, kubeconfigs or components)", args[0])
}
