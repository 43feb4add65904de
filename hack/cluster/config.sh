# shellcheck shell=bash
# Configuration files of the offline cluster's components; sourced by
# hack/local-cluster.sh. Every path points under $CLUSTER_DIR, and every
# listener at loopback or the node's own address.

write_containerd_config() {
  mkdir -p "$ETC/cni"
  cat > "$ETC/containerd.toml" <<EOT
version = 2
root = "$DATA/containerd"
state = "$CONTAINERD_STATE"

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.grpc.v1.cri"]
  # Nothing can be pulled here: the sandbox image is imported at up.
  sandbox_image = "$PAUSE_IMAGE"
  # This VM's root lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj
  # below containerd's own, and every sandbox fails without this clamp.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$ETC/cni"

[plugins."io.containerd.internal.v1.opt"]
  path = "$DATA/containerd-opt"
EOT
  # One bridge with NAT for the pods; hairpin so a pod reaches itself
  # through its own Service.
  cat > "$ETC/cni/10-kuberaft.conflist" <<EOT
{
  "cniVersion": "0.4.0",
  "name": "kuberaft",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$DATA/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOT
}

# write_component_configs BIN: kubelet.yaml and kube-proxy.yaml, written by
# hack/tools/k8s/clusterconfig from the components' own typed config structs
# (the settings and why each is set are documented there).
write_component_configs() {
  "$1/clusterconfig" components -etc "$ETC" -pki "$PKI" -data "$DATA" -node-ip "$NODE_IP" \
    -node-name "$NODE_NAME" -cluster-domain "$CLUSTER_DOMAIN" -dns-svc-ip "$DNS_SVC_IP" \
    -pod-cidr "$POD_CIDR" -containerd-sock "$CONTAINERD_SOCK"
}

# write_corefile: CoreDNS answers cluster.local from the API and NXDOMAIN for
# anything else (no forward: no traffic leaves the machine). No cache plugin:
# a cached answer kept a deleted pod's old IP for seconds.
write_corefile() {
  cat > "$ETC/Corefile" <<EOT
$CLUSTER_DOMAIN:53 in-addr.arpa:53 ip6.arpa:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $ETC/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    loadbalance
}
.:53 {
    bind $NODE_IP
    errors
    template ANY ANY {
        rcode NXDOMAIN
    }
}
EOT
}

# write_bootstrap: cluster objects the components need: the default
# StorageClass, CoreDNS's RBAC, and the kube-dns Service with a hand-made
# EndpointSlice pointing at CoreDNS on the host.
write_bootstrap() {
  cat > "$ETC/bootstrap.yaml" <<EOT
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: $HOSTPATH_PROVISIONER
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: system:coredns
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $DNS_SVC_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: kuberaft-local-cluster
addressType: IPv4
endpoints:
- addresses: [$NODE_IP]
  conditions: {ready: true}
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOT
}
