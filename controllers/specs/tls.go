package specs

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Where the TLS Secrets are mounted in the node container. Whole-volume
// mounts (never subPath): the kubelet then swaps in renewed Secrets, which
// the node re-reads at its next handshake.
const (
	ServerTLSDir = "/etc/raftnode/tls/server"
	PeerTLSDir   = "/etc/raftnode/tls/peer"
	serverVolume = "server-tls"
	peerVolume   = "peer-tls"
	// tlsFileMode: owner and group read (the pod's fsGroup), nobody else.
	tlsFileMode = 0o440
)

// tlsArgs are etcd's TLS flags: mutual TLS on both ports. The client
// port's trusted CA bundle also verifies the operator, which alone may
// change membership (raftnode's default --membership-allowed-cn).
func tlsArgs(rc *raftv1alpha1.RaftCluster) []string {
	if !rc.TLSEnabled() {
		return nil
	}
	return []string{
		"--cert-file=" + ServerTLSDir + "/tls.crt", "--key-file=" + ServerTLSDir + "/tls.key",
		"--trusted-ca-file=" + ServerTLSDir + "/ca.crt", "--client-cert-auth",
		"--peer-cert-file=" + PeerTLSDir + "/tls.crt", "--peer-key-file=" + PeerTLSDir + "/tls.key",
		"--peer-trusted-ca-file=" + PeerTLSDir + "/ca.crt", "--peer-client-cert-auth",
	}
}

func tlsVolumes(rc *raftv1alpha1.RaftCluster) []corev1.Volume {
	if !rc.TLSEnabled() {
		return nil
	}
	secret := func(name, secretName string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secretName, DefaultMode: ptr.To[int32](tlsFileMode)}}}
	}
	return []corev1.Volume{secret(serverVolume, ServerTLSSecretName(rc)), secret(peerVolume, PeerTLSSecretName(rc))}
}

func volumeMounts(rc *raftv1alpha1.RaftCluster) []corev1.VolumeMount {
	mounts := []corev1.VolumeMount{{Name: DataVolume, MountPath: DataDir}, ScratchMount}
	if rc.TLSEnabled() {
		mounts = append(mounts,
			corev1.VolumeMount{Name: serverVolume, MountPath: ServerTLSDir, ReadOnly: true},
			corev1.VolumeMount{Name: peerVolume, MountPath: PeerTLSDir, ReadOnly: true})
	}
	return mounts
}
