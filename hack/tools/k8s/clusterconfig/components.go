package main

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	proxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// componentsSpec is what the kubelet's and kube-proxy's configuration
// files depend on. Both are written from the components' own typed config
// structs, so a misspelt field is a compile error, not a silently ignored
// key.
type componentsSpec struct {
	Etc, PKI, Data                        string
	NodeIP, NodeName, ClusterDomain       string
	DNSServiceIP, PodCIDR, ContainerdSock string
}

func (c componentsSpec) write() error {
	if c.Etc == "" || c.PKI == "" || c.Data == "" || c.NodeIP == "" || c.NodeName == "" ||
		c.ClusterDomain == "" || c.DNSServiceIP == "" || c.PodCIDR == "" || c.ContainerdSock == "" {
		return errors.New("components: every flag is required")
	}
	if err := writeYAML(filepath.Join(c.Etc, "kubelet.yaml"), c.kubelet()); err != nil {
		return err
	}
	return writeYAML(filepath.Join(c.Etc, "kube-proxy.yaml"), c.proxy())
}

func (c componentsSpec) kubelet() *kubeletv1beta1.KubeletConfiguration {
	return &kubeletv1beta1.KubeletConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		Address:            c.NodeIP,
		Port:               10250,
		HealthzBindAddress: "127.0.0.1",
		HealthzPort:        ptr[int32](10248),
		TLSCertFile:        filepath.Join(c.PKI, "kubelet-serving.crt"),
		TLSPrivateKeyFile:  filepath.Join(c.PKI, "kubelet-serving.key"),
		Authentication: kubeletv1beta1.KubeletAuthentication{
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr(false)},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr(true)},
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: filepath.Join(c.PKI, "ca.crt")},
		},
		Authorization:            kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		ContainerRuntimeEndpoint: "unix://" + c.ContainerdSock,
		// containerd 1.6 has no RuntimeConfig RPC: kubelet falls back to this.
		CgroupDriver: "cgroupfs",
		// 1.36 refuses cgroup v1 hosts by default; this VM is v1 (hybrid).
		FailCgroupV1:  ptr(false),
		FailSwapOn:    ptr(false),
		ClusterDomain: c.ClusterDomain,
		ClusterDNS:    []string{c.DNSServiceIP},
		PodLogsDir:    filepath.Join(c.Data, "pod-logs"),
		// Images cannot be pulled again here: never garbage-collect them,
		// and evict only when the disk is really full.
		ImageGCHighThresholdPercent: ptr[int32](100),
		ImageGCLowThresholdPercent:  ptr[int32](99),
		EvictionHard: map[string]string{"memory.available": "100Mi", "nodefs.available": "1%",
			"nodefs.inodesFree": "1%", "imagefs.available": "1%"},
		SerializeImagePulls: ptr(false),
		MaxPods:             110,
		// Secret volumes are refreshed at a pod's periodic sync (default
		// 1 min, plus up to half of it as jitter). Every 10 s, so a
		// rotated certificate reaches the pods well within the CA overlap
		// the e2e suite gives the operator (hack/README.md).
		SyncFrequency: metav1.Duration{Duration: 10 * time.Second},
	}
}

func (c componentsSpec) proxy() *proxyv1alpha1.KubeProxyConfiguration {
	zero := &metav1.Duration{Duration: 0 * time.Second}
	return &proxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection:   componentbaseconfigv1alpha1.ClientConnectionConfiguration{Kubeconfig: filepath.Join(c.Etc, "kube-proxy.kubeconfig")},
		HostnameOverride:   c.NodeName,
		Mode:               "iptables",
		ClusterCIDR:        c.PodCIDR,
		HealthzBindAddress: "127.0.0.1:10256",
		MetricsBindAddress: "127.0.0.1:10249",
		// Leave the host's conntrack table settings alone.
		Conntrack: proxyv1alpha1.KubeProxyConntrackConfiguration{MaxPerCore: ptr[int32](0), Min: ptr[int32](0),
			TCPEstablishedTimeout: zero, TCPCloseWaitTimeout: zero},
	}
}

func writeYAML(path string, obj any) error {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func ptr[T any](v T) *T { return &v }
