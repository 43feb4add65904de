# shellcheck shell=bash
# PKI and kubeconfigs of the offline cluster; sourced by hack/local-cluster.sh.
# The typed Go tool hack/tools/k8s/clusterconfig writes them (crypto/x509 and
# client-go's clientcmd; identities and SANs are documented there); these
# functions only pass it the cluster's settings.

# gen_pki BIN creates the CA, the serving and client certificates and the
# service-account key pair, unless they exist for this node IP already.
gen_pki() {
  "$1/clusterconfig" pki -dir "$PKI" -node-ip "$NODE_IP" -node-name "$NODE_NAME" \
    -cluster-domain "$CLUSTER_DOMAIN" -apiserver-svc-ip "$APISERVER_SVC_IP"
}

# gen_kubeconfigs BIN writes the admin kubeconfig and one per component
# (certificates embedded, mode 0600).
gen_kubeconfigs() {
  "$1/clusterconfig" kubeconfigs -pki "$PKI" -server "https://127.0.0.1:$APISERVER_PORT" \
    -admin "$KUBECONFIG_PATH" -dir "$ETC"
}
