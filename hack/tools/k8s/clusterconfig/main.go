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

// stringFlag is one string flag of a subcommand.
type stringFlag struct {
	v          *string
	name, help string
	def        string
}

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: clusterconfig pki|kubeconfigs|components [flags]")
	}
	var p pkiSpec
	var k kubeconfigSpec
	var c componentsSpec
	// write is a closure, not a method value: it must see the fields as
	// the flags set them.
	commands := map[string]struct {
		flags []stringFlag
		write func() error
	}{
		"pki": {[]stringFlag{
			{&p.Dir, "dir", "directory of the PKI (created)", ""},
			{&p.NodeIP, "node-ip", "the node's IP (apiserver and kubelet serving SANs)", ""},
			{&p.NodeName, "node-name", "the node's name", ""},
			{&p.ClusterDomain, "cluster-domain", "cluster DNS domain", "cluster.local"},
			{&p.APIServerSvcIP, "apiserver-svc-ip", "ClusterIP of the kubernetes Service", ""},
		}, func() error { return p.write() }},
		"kubeconfigs": {[]stringFlag{
			{&k.PKI, "pki", "directory of the PKI", ""},
			{&k.Server, "server", "the apiserver's URL", ""},
			{&k.AdminPath, "admin", "path of the admin kubeconfig", ""},
			{&k.Dir, "dir", "directory of the components' kubeconfigs (<component>.kubeconfig)", ""},
		}, func() error { return k.write() }},
		"components": {[]stringFlag{
			{&c.Etc, "etc", "directory of the configuration files", ""},
			{&c.PKI, "pki", "directory of the PKI", ""},
			{&c.Data, "data", "the cluster's data directory", ""},
			{&c.NodeIP, "node-ip", "the node's IP", ""},
			{&c.NodeName, "node-name", "the node's name", ""},
			{&c.ClusterDomain, "cluster-domain", "cluster DNS domain", ""},
			{&c.DNSServiceIP, "dns-svc-ip", "ClusterIP of kube-dns", ""},
			{&c.PodCIDR, "pod-cidr", "the pods' CIDR", ""},
			{&c.ContainerdSock, "containerd-sock", "path of containerd's socket", ""},
		}, func() error { return c.write() }},
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q (want pki, kubeconfigs or components)", args[0])
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, f := range cmd.flags {
		fs.StringVar(f.v, f.name, f.def, f.help)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return cmd.write()
}
