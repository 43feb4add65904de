# shellcheck shell=bash
# PKI and kubeconfigs of the offline cluster; sourced by hack/local-cluster.sh.
#
# One EC P-256 CA signs every certificate (RSA-2048 took 7 s on 2 cores, EC
# takes about 1 s). Identities follow upstream's conventions so the Node and
# RBAC authorizers grant each component exactly its built-in role.

# new_cert NAME CN ORG SANS: key + certificate signed by the CA. ORG and SANS
# may be empty; SANS is an openssl subjectAltName list (DNS:x,IP:y).
new_cert() {
  local name=$1 cn=$2 org=$3 sans=$4 subj ext
  subj="/CN=$cn${org:+/O=$org}"
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth${sans:+
subjectAltName=$sans}"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile <(echo "$ext") -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

# gen_pki creates the CA, the serving and client certificates and the service
# account signing key, unless they exist for this node IP already.
gen_pki() {
  if [[ -f "$PKI/node-ip" && "$(cat "$PKI/node-ip")" == "$NODE_IP" && -f "$PKI/sa.pub" ]]; then
    return
  fi
  rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=kuberaft-local-ca" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
  local svc_dns="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost"
  new_cert apiserver kube-apiserver "" "$svc_dns,IP:127.0.0.1,IP:$APISERVER_SVC_IP,IP:$NODE_IP"
  new_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
  new_cert admin kubernetes-admin system:masters ""
  new_cert controller-manager system:kube-controller-manager "" ""
  new_cert scheduler system:kube-scheduler "" ""
  new_cert kubelet "system:node:$NODE_NAME" system:nodes ""
  new_cert kubelet-serving "$NODE_NAME" "" "DNS:$NODE_NAME,IP:$NODE_IP,IP:127.0.0.1"
  new_cert kube-proxy system:kube-proxy "" ""
  new_cert coredns system:coredns "" ""
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  echo "$NODE_IP" > "$PKI/node-ip"
}

# write_kubeconfig FILE CERT: a self-contained kubeconfig (certificates
# embedded) for the identity in pki/CERT.{crt,key}.
write_kubeconfig() {
  local file=$1 cert=$2
  cat > "$file" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: kuberaft-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: kuberaft-local
  context:
    cluster: kuberaft-local
    user: $cert
current-context: kuberaft-local
KCFG
  chmod 600 "$file"
}

gen_kubeconfigs() {
  write_kubeconfig "$KUBECONFIG_PATH" admin
  local c
  for c in controller-manager scheduler kubelet kube-proxy coredns; do
    write_kubeconfig "$ETC/$c.kubeconfig" "$c"
  done
}
