// Package specs builds the desired Kubernetes objects of a RaftCluster:
// StatefulSet, Services, PodDisruptionBudget and bootstrap ConfigMap. Every
// function is pure: same cluster in, same object out.
package specs

import (
	"fmt"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// Labels and annotations the operator owns.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelCluster   = "raft.kuberaft.io/cluster"
	// LabelClusterUID marks a PVC with the UID of the RaftCluster that
	// created it: a PVC left by an earlier cluster of the same name is
	// recognised and never taken for this one's data.
	LabelClusterUID = "raft.kuberaft.io/cluster-uid"
	// LabelRole is leader, follower or learner, kept current by the operator.
	LabelRole = "raft.kuberaft.io/role"
	// AnnotationTemplateHash is the hash of the pod template a pod was
	// created from; a pod whose hash differs is upgraded.
	AnnotationTemplateHash = "raft.kuberaft.io/template-hash"

	AppName   = "raftnode"
	ManagedBy = "kuberaft-operator"
)

// Ports of the node.
const (
	ClientPort  = 2379
	PeerPort    = 2380
	MetricsPort = 8080
)

// Keys of the bootstrap ConfigMap, read by the pods as environment variables.
const (
	KeyInitialCluster      = "INITIAL_CLUSTER"
	KeyInitialClusterState = "INITIAL_CLUSTER_STATE"
	KeyInitialClusterToken = "INITIAL_CLUSTER_TOKEN"
	StateNew               = "new"
	StateExisting          = "existing"
)

// DataVolume is the name of the volume claim template; PVCs are called
// data-<pod>.
const DataVolume = "data"

// RestoreFile is where a restore puts the snapshot on the first member's
// volume (outside the data dir, which must be empty for the restore).
const RestoreFile = DataDir + "/restore/snapshot.db"

// RestoreMember is the member a restore seeds: ordinal 0, the only
// bootstrap member of a restored cluster.
func RestoreMember(rc *raftv1alpha1.RaftCluster) string { return rc.Name + "-0" }

// RestoreJobName is the Job that fetches and verifies the snapshot.
func RestoreJobName(rc *raftv1alpha1.RaftCluster) string { return rc.Name + "-restore" }

// ContainerName is the node container's name.
const ContainerName = "raftnode"

// DataDir is where the node keeps its WAL and snapshots.
const DataDir = "/var/lib/raftnode"

// Options are operator-wide settings the builders need.
type Options struct {
	// ClusterDomain is the cluster's DNS suffix, e.g. cluster.local.
	ClusterDomain string
}

// StatefulSetName is the StatefulSet's (and client Service's) name.
func StatefulSetName(rc *raftv1alpha1.RaftCluster) string { return rc.Name }

// PeerServiceName is the headless Service that gives pods their DNS names.
func PeerServiceName(rc *raftv1alpha1.RaftCluster) string { return rc.Name + "-peer" }

// ClientServiceName is the Service over every ready member.
func ClientServiceName(rc *raftv1alpha1.RaftCluster) string { return rc.Name }

// LeaderServiceName is the Service that selects the leader pod only.
func LeaderServiceName(rc *raftv1alpha1.RaftCluster) string { return rc.Name + "-leader" }

// BootstrapConfigMapName is the ConfigMap with the bootstrap parameters.
func BootstrapConfigMapName(rc *raftv1alpha1.RaftCluster) string { return rc.Name + "-bootstrap" }

// PDBName is the PodDisruptionBudget's name.
func PDBName(rc *raftv1alpha1.RaftCluster) string { return rc.Name }

// PVCName is the name of the PVC of pod.
func PVCName(pod string) string { return DataVolume + "-" + pod }

// PeerURL is member pod's advertised peer URL.
func PeerURL(rc *raftv1alpha1.RaftCluster, opts Options, pod string) string {
	return fmt.Sprintf("%s://%s.%s.%s.svc.%s:%d", Scheme(rc), pod, PeerServiceName(rc), rc.Namespace, opts.ClusterDomain, PeerPort)
}

// Scheme is the URL scheme of the client and peer ports.
func Scheme(rc *raftv1alpha1.RaftCluster) string {
	if rc.TLSEnabled() {
		return "https"
	}
	return "http"
}

// Managed TLS Secret names (README "TLS").
func CASecretName(rc *raftv1alpha1.RaftCluster) string            { return rc.Name + "-ca" }
func ClientTLSSecretName(rc *raftv1alpha1.RaftCluster) string     { return rc.Name + "-client-tls" }
func OperatorTLSSecretName(rc *raftv1alpha1.RaftCluster) string   { return rc.Name + "-operator-tls" }
func managedServerSecretName(rc *raftv1alpha1.RaftCluster) string { return rc.Name + "-server-tls" }
func managedPeerSecretName(rc *raftv1alpha1.RaftCluster) string   { return rc.Name + "-peer-tls" }

// ServerTLSSecretName, PeerTLSSecretName and OperatorSecretName are the
// Secrets the pods and the operator use, managed or provided.
func ServerTLSSecretName(rc *raftv1alpha1.RaftCluster) string {
	if p := rc.Spec.TLS.Provided; rc.TLSMode() == raftv1alpha1.TLSProvided && p != nil {
		return p.ServerSecretName
	}
	return managedServerSecretName(rc)
}

func PeerTLSSecretName(rc *raftv1alpha1.RaftCluster) string {
	if p := rc.Spec.TLS.Provided; rc.TLSMode() == raftv1alpha1.TLSProvided && p != nil {
		return p.PeerSecretName
	}
	return managedPeerSecretName(rc)
}

func OperatorSecretName(rc *raftv1alpha1.RaftCluster) string {
	if p := rc.Spec.TLS.Provided; rc.TLSMode() == raftv1alpha1.TLSProvided && p != nil {
		return p.OperatorSecretName
	}
	return OperatorTLSSecretName(rc)
}

// SelectorLabels select the pods of rc.
func SelectorLabels(rc *raftv1alpha1.RaftCluster) map[string]string {
	return map[string]string{LabelName: AppName, LabelCluster: rc.Name}
}

// CommonLabels are set on every object the operator creates for rc.
func CommonLabels(rc *raftv1alpha1.RaftCluster) map[string]string {
	l := SelectorLabels(rc)
	l[LabelInstance] = rc.Name
	l[LabelManagedBy] = ManagedBy
	return l
}
