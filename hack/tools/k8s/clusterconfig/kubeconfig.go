package main

import (
	"errors"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// components that get a kubeconfig of their own, named after their
// certificate in the PKI.
var components = []string{"controller-manager", "scheduler", "kubelet", "kube-proxy", "coredns"}

// kubeconfigSpec: where the PKI is, the apiserver's URL and where to write.
type kubeconfigSpec struct {
	PKI, Server, AdminPath, Dir string
}

func (k kubeconfigSpec) write() error {
	if k.PKI == "" || k.Server == "" || k.AdminPath == "" || k.Dir == "" {
		return errors.New("kubeconfigs: -pki, -server, -admin and -dir are required")
	}
	if err := k.writeOne(k.AdminPath, "admin"); err != nil {
		return err
	}
	for _, c := range components {
		if err := k.writeOne(filepath.Join(k.Dir, c+".kubeconfig"), c); err != nil {
			return err
		}
	}
	return nil
}

// writeOne writes a self-contained kubeconfig (certificates embedded) for
// the identity in PKI/cert.{crt,key}; clientcmd writes it mode 0600.
func (k kubeconfigSpec) writeOne(path, cert string) error {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(k.PKI, name)) }
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read(cert + ".crt")
	if err != nil {
		return err
	}
	key, err := read(cert + ".key")
	if err != nil {
		return err
	}
	const name = "kuberaft-local"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: k.Server, CertificateAuthorityData: ca}
	cfg.AuthInfos[cert] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: cert}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}
