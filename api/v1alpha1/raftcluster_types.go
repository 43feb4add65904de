package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RaftClusterSpec is the desired state of a Raft cluster.
//
// +kubebuilder:validation:XValidation:rule="has(self.version) || has(self.image)",message="one of spec.version or spec.image must be set"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.bootstrap) == has(self.bootstrap)",message="bootstrap can only be set when the cluster is created"
type RaftClusterSpec struct {
	// replicas is the number of voting members. Scaling out adds learners
	// first and promotes them in one joint-consensus change; scaling in moves
	// leadership off the removed members and removes them in one change.
	// Odd numbers tolerate the most failures per member.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=9
	// +kubebuilder:default=3
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// version is the raftnode image tag to run (kuberaft.local/raftnode:<version>).
	// Changing it rolls the members one at a time, the leader last.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`
	// +optional
	Version string `json:"version,omitempty"`

	// image is a full image reference for the node; it overrides version.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	// +optional
	Image string `json:"image,omitempty"`

	// storage describes each member's persistent volume. Its size and class
	// cannot change after creation (a volume holds a member's raft log);
	// reclaimPolicy can.
	// +kubebuilder:validation:XValidation:rule="string(self.size) == string(oldSelf.size) && has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage is immutable except storage.reclaimPolicy"
	// +required
	Storage StorageSpec `json:"storage"`

	// resources are the compute resources of the node container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// podTemplate adds scheduling constraints and metadata to the member pods.
	// +optional
	PodTemplate PodTemplateOverrides `json:"podTemplate,omitempty"`

	// raft tunes the consensus timers and snapshots of every member.
	// +kubebuilder:default={}
	// +optional
	Raft RaftSettings `json:"raft,omitempty"`

	// paused stops all changes: no membership change, no pod deletion, no
	// object update. Status is still observed and reported.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// tls secures the client and peer ports with mutual TLS. New clusters
	// get Managed. It cannot change after creation: every member's peer
	// URL, recorded in the raft membership, carries the scheme (http or
	// https), and members cannot change their URLs, so switching would
	// need every member replaced at once; create a new cluster instead.
	// +kubebuilder:default={mode: Managed}
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tls is immutable: a member's peer URL scheme is fixed for its lifetime; create a new cluster to change it"
	// +optional
	TLS TLSSpec `json:"tls,omitzero"`

	// backup takes scheduled RaftBackups of this cluster (backup & recovery,
	// raftcluster_dr_types.go).
	// +optional
	Backup *ScheduledBackupSpec `json:"backup,omitempty"`

	// bootstrap seeds a new cluster, e.g. from a backup. It can only be set
	// at creation: restoring into an existing cluster is refused.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="bootstrap is immutable"
	// +optional
	Bootstrap *BootstrapSpec `json:"bootstrap,omitempty"`

	// recovery opts into quorum-loss recovery: Preview, then Apply.
	// +optional
	Recovery *RecoverySpec `json:"recovery,omitempty"`
}

// TLSMode says where a cluster's certificates come from.
// +kubebuilder:validation:Enum=Managed;Provided;Disabled
type TLSMode string

// TLS modes.
const (
	// TLSManaged: the operator runs a CA per cluster and issues, renews
	// and rotates every certificate.
	TLSManaged TLSMode = "Managed"
	// TLSProvided: the user (e.g. cert-manager) provides the Secrets.
	TLSProvided TLSMode = "Provided"
	// TLSDisabled: plaintext, no client authentication. Any pod that can
	// reach the cluster can read, write and change membership.
	TLSDisabled TLSMode = "Disabled"
)

// TLSSpec configures mutual TLS.
//
// +kubebuilder:validation:XValidation:rule="self.mode == 'Provided' ? has(self.provided) : !has(self.provided)",message="tls.provided is required with mode Provided and only allowed with it"
type TLSSpec struct {
	// mode is Managed (default), Provided or Disabled.
	// +kubebuilder:default=Managed
	// +optional
	Mode TLSMode `json:"mode,omitempty"`

	// provided names the Secrets of mode Provided.
	// +optional
	Provided *ProvidedTLS `json:"provided,omitempty"`
}

// ProvidedTLS names Secrets in cert-manager's format (kubernetes.io/tls
// with tls.crt, tls.key and ca.crt) in the cluster's namespace. The nodes
// re-read them when they change; ca.crt may hold several CAs, which is how
// a CA is rotated without downtime.
type ProvidedTLS struct {
	// serverSecretName is the client-port certificate (server auth; its
	// ca.crt is the CA clients must chain to). Its SANs must cover
	// *.<name>-peer.<namespace>.svc.<domain> and the client Services.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	ServerSecretName string `json:"serverSecretName"`
	// peerSecretName is the peer certificate (server and client auth).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	PeerSecretName string `json:"peerSecretName"`
	// operatorSecretName is the operator's client certificate for this
	// cluster (client auth, common name kuberaft-operator), signed by a CA
	// in the server Secret's ca.crt.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	OperatorSecretName string `json:"operatorSecretName"`
}

// StorageSpec is the persistent volume of each member.
type StorageSpec struct {
	// size is the capacity of each member's volume.
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="storage.size must be greater than zero"
	// +required
	Size resource.Quantity `json:"size"`

	// storageClassName is the StorageClass of the volumes; empty uses the
	// cluster's default class.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// reclaimPolicy says what happens to the members' volumes when the
	// RaftCluster is deleted. Retain (the default) keeps them: deleting a
	// cluster by mistake loses no data, and a new RaftCluster of the same
	// name refuses to start until they are reattached or deleted (see the
	// README). Delete deletes them with the cluster. Volumes of members
	// removed by a scale-in are deleted either way: their data is stale.
	// +kubebuilder:validation:Enum=Retain;Delete
	// +kubebuilder:default=Retain
	// +optional
	ReclaimPolicy ReclaimPolicy `json:"reclaimPolicy,omitempty"`
}

// ReclaimPolicy is what happens to a cluster's volumes when it is deleted.
type ReclaimPolicy string

// Reclaim policies.
const (
	ReclaimRetain ReclaimPolicy = "Retain"
	ReclaimDelete ReclaimPolicy = "Delete"
)

// PodTemplateOverrides are the parts of the member pods a user may set.
type PodTemplateOverrides struct {
	// labels are added to every member pod. Keys of the operator's own
	// prefix (raft.kuberaft.io/) and app.kubernetes.io/{name,instance} are reserved.
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('raft.kuberaft.io/') && k != 'app.kubernetes.io/name' && k != 'app.kubernetes.io/instance')",message="podTemplate.labels must not use the reserved keys raft.kuberaft.io/*, app.kubernetes.io/name or app.kubernetes.io/instance"
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to every member pod.
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('raft.kuberaft.io/'))",message="podTemplate.annotations must not use the reserved prefix raft.kuberaft.io/"
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// affinity of the member pods. Without it the pods prefer distinct nodes.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// tolerations of the member pods.
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// nodeSelector of the member pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// topologySpreadConstraints of the member pods.
	// +listType=atomic
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
}

// RaftSettings are the node's consensus parameters (etcd's flag names).
//
// +kubebuilder:validation:XValidation:rule="!has(self.electionTimeout) || !has(self.heartbeatInterval) || self.electionTimeout >= 5 * self.heartbeatInterval",message="raft.electionTimeout must be at least 5 times raft.heartbeatInterval"
type RaftSettings struct {
	// heartbeatInterval is the leader's heartbeat period in milliseconds.
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=5000
	// +kubebuilder:default=100
	// +optional
	HeartbeatInterval int32 `json:"heartbeatInterval,omitempty"`

	// electionTimeout is the follower's election timeout in milliseconds.
	// +kubebuilder:validation:Minimum=50
	// +kubebuilder:validation:Maximum=50000
	// +kubebuilder:default=1000
	// +optional
	ElectionTimeout int32 `json:"electionTimeout,omitempty"`

	// snapshotCount is the number of applied entries between snapshots.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=10000
	// +optional
	SnapshotCount int64 `json:"snapshotCount,omitempty"`
}

// MemberRole is a member's part in the raft configuration.
// +kubebuilder:validation:Enum=Leader;Follower;Learner
type MemberRole string

// Member roles, also used (lower-cased) as the pod label raft.kuberaft.io/role.
const (
	RoleLeader   MemberRole = "Leader"
	RoleFollower MemberRole = "Follower"
	RoleLearner  MemberRole = "Learner"
)

// MemberStatus is the observed state of one member.
type MemberStatus struct {
	// name is the member's name, equal to its pod's name.
	// +required
	Name string `json:"name"`
	// id is the raft member ID in hexadecimal, as etcdctl prints it.
	// +required
	ID string `json:"id"`
	// role is Leader, Follower or Learner.
	// +required
	Role MemberRole `json:"role"`
	// healthy is true when the member answered its status call.
	// +optional
	Healthy bool `json:"healthy,omitempty"`
	// term is the raft term the member reports.
	// +optional
	Term int64 `json:"term,omitempty"`
	// commitIndex is the member's commit index.
	// +optional
	CommitIndex int64 `json:"commitIndex,omitempty"`
	// appliedIndex is the member's applied index.
	// +optional
	AppliedIndex int64 `json:"appliedIndex,omitempty"`
	// lag is how many entries the member's replicated log trails the leader's
	// commit index (from the leader's progress).
	// +optional
	Lag int64 `json:"lag,omitempty"`
	// version is the node version the member reports.
	// +optional
	Version string `json:"version,omitempty"`
}

// OperationType names a change the operator carries out over several loops.
// +kubebuilder:validation:Enum=ScaleOut;ScaleIn;Upgrade;Replace
type OperationType string

// Operation types.
const (
	OperationScaleOut OperationType = "ScaleOut"
	OperationScaleIn  OperationType = "ScaleIn"
	OperationUpgrade  OperationType = "Upgrade"
	OperationReplace  OperationType = "Replace"
)

// Operation is the change in flight. It is written before each step acts,
// so that a restarted operator knows what it was doing; what it does next
// is still decided from the observed membership.
type Operation struct {
	// type is the kind of change.
	// +required
	Type OperationType `json:"type"`
	// targets are the member (pod) names the change is about.
	// +listType=atomic
	// +optional
	Targets []string `json:"targets,omitempty"`
	// step is the step being carried out, e.g. AddLearners or Promote.
	// +required
	Step string `json:"step"`
	// startedAt is when the change began.
	// +required
	StartedAt metav1.Time `json:"startedAt"`
}

// RaftClusterStatus is the observed state of a Raft cluster.
type RaftClusterStatus struct {
	// observedGeneration is the generation the last successful loop acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// replicas is the number of members (voters and learners).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// readyReplicas is the number of healthy members.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// selector is the label selector of the member pods (scale subresource).
	// +optional
	Selector string `json:"selector,omitempty"`
	// leader is the name of the leader's pod.
	// +optional
	Leader string `json:"leader,omitempty"`
	// currentVersion is the version (or image) every member runs; empty
	// while members run different ones.
	// +optional
	CurrentVersion string `json:"currentVersion,omitempty"`
	// failureTolerance is how many more voters may fail without losing quorum.
	// +optional
	FailureTolerance int32 `json:"failureTolerance,omitempty"`
	// joint is true while the configuration is in a joint-consensus transition.
	// +optional
	Joint bool `json:"joint,omitempty"`
	// members lists every member of the raft configuration.
	// +listType=map
	// +listMapKey=name
	// +optional
	Members []MemberStatus `json:"members,omitempty"`
	// operation is the change in flight, if any.
	// +optional
	Operation *Operation `json:"operation,omitempty"`
	// certificates lists the TLS Secrets in use and when each expires.
	// +listType=map
	// +listMapKey=secretName
	// +optional
	Certificates []CertificateStatus `json:"certificates,omitempty"`
	// conditions are Available, Progressing and Degraded.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// lastScheduledBackupTime is when spec.backup last created a RaftBackup.
	// +optional
	LastScheduledBackupTime *metav1.Time `json:"lastScheduledBackupTime,omitempty"`
	// recovery reports quorum loss and the recovery plan.
	// +optional
	Recovery *RecoveryStatus `json:"recovery,omitempty"`
}

// CertificateStatus is one TLS Secret's certificate.
type CertificateStatus struct {
	// secretName is the Secret's name.
	// +required
	SecretName string `json:"secretName"`
	// notAfter is when its certificate expires.
	// +optional
	NotAfter metav1.Time `json:"notAfter,omitzero"`
	// error says why the Secret is unusable, if it is.
	// +optional
	Error string `json:"error,omitempty"`
}

// Condition types of a RaftCluster.
const (
	// ConditionAvailable is True when a quorum of the voters is healthy and
	// a leader is known.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while the operator carries out a change;
	// its reason names the step.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when members are unhealthy or the spec
	// cannot be carried out.
	ConditionDegraded = "Degraded"
	// ConditionCertificatesReady is True when every TLS Secret is valid
	// and none is close to expiry; absent with TLS Disabled.
	ConditionCertificatesReady = "CertificatesReady"
	// ConditionRestored is set only on a cluster with
	// spec.bootstrap.restore: False while the snapshot is fetched and
	// verified (or when it cannot be), True once the first member was
	// seeded from it.
	ConditionRestored = "Restored"
	// ConditionRecovering is True while a quorum-loss recovery
	// (spec.recovery.mode Apply) is carried out; its reason names the step.
	// False once it completed, was cancelled or was refused; absent when
	// no recovery was ever applied.
	ConditionRecovering = "Recovering"
)

// Reasons of the Recovering condition.
const (
	// ReasonRecoveryPlanMismatch: spec.recovery.planID is not the plan
	// computed now; nothing was changed.
	ReasonRecoveryPlanMismatch = "PlanMismatch"
	// ReasonRecoveryDeletingVolume: a discarded member's volume (then its
	// pod) is being deleted.
	ReasonRecoveryDeletingVolume = "DeletingDiscardedVolume"
	// ReasonRecoveryDeletingPod: a discarded member's pod still holds its
	// deleted volume and is being deleted.
	ReasonRecoveryDeletingPod = "DeletingDiscardedPod"
	// ReasonRecoveryForcingSurvivor: the survivor restarts with
	// --force-new-cluster as the only voter of a new cluster.
	ReasonRecoveryForcingSurvivor = "ForcingSurvivor"
	// ReasonRecoveryWaitingSurvivor: waiting for the survivor to lead its
	// new cluster.
	ReasonRecoveryWaitingSurvivor = "WaitingForSurvivor"
	// ReasonRecoveryGrowingBack: fresh members join as learners and are
	// promoted up to spec.replicas.
	ReasonRecoveryGrowingBack = "GrowingBack"
	// ReasonRecovered: the cluster has spec.replicas healthy voters again.
	ReasonRecovered = "Recovered"
	// ReasonRecoveryCancelled: quorum came back before anything was
	// deleted; the Apply stopped without changing anything.
	ReasonRecoveryCancelled = "Cancelled"
)

// Reasons of the CertificatesReady condition.
const (
	ReasonCertificatesValid    = "CertificatesValid"
	ReasonCertificatesExpiring = "CertificatesExpiring"
	ReasonCertificatesInvalid  = "CertificatesInvalid"
	ReasonCARotating           = "CARotating"
)

// Reasons of the Available condition. NoLeader and QuorumLost are also
// Degraded reasons: a formed cluster without a leader is degraded.
const (
	ReasonQuorumHealthy = "QuorumHealthy"
	ReasonQuorumLost    = "QuorumLost"
	ReasonNoLeader      = "NoLeader"
	ReasonBootstrapping = "Bootstrapping"
)

// Reasons of the Progressing condition. Each names the step being taken or
// awaited.
const (
	ReasonBootstrap        = "Bootstrap"
	ReasonAddingLearners   = "AddingLearners"
	ReasonWaitingLearners  = "WaitingForLearners"
	ReasonPromoting        = "PromotingLearners"
	ReasonMovingLeader     = "MovingLeader"
	ReasonRemovingMembers  = "RemovingMembers"
	ReasonUpgrading        = "Upgrading"
	ReasonWaitingUpgrade   = "WaitingForUpgradedMember"
	ReasonReplacingMember  = "ReplacingMember"
	ReasonWipingVolume     = "WipingVolume"
	ReasonWaitingJoint     = "WaitingForJointToLeave"
	ReasonWaitingPods      = "WaitingForPods"
	ReasonWaitingQuorum    = "WaitingForQuorum"
	ReasonPaused           = "Paused"
	ReasonReconciled       = "Reconciled"
	ReasonWaitingPreflight = "PreflightFailed"
)

// Reasons of the Restored condition (RestoreFailed and RestoreSourceInvalid
// are also Degraded reasons: the restore cannot go on by itself).
const (
	// ReasonRestoreWaitingForBackup: the named RaftBackup does not exist
	// or has not completed yet.
	ReasonRestoreWaitingForBackup = "WaitingForBackup"
	// ReasonRestoreFetching: the restore Job fetches the snapshot onto the
	// first member's volume and verifies it.
	ReasonRestoreFetching = "FetchingSnapshot"
	// ReasonRestoreSourceInvalid: the source can never be restored (the
	// RaftBackup failed, or its sha256 differs from spec.bootstrap.restore.sha256).
	ReasonRestoreSourceInvalid = "RestoreSourceInvalid"
	// ReasonRestoreFailed: the restore Job failed (missing file, checksum
	// mismatch, corrupt snapshot); delete the Job to retry.
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonRestoreSeeding: the snapshot was verified and placed; the
	// first member starts from it.
	ReasonRestoreSeeding = "SeedingFirstMember"
	// ReasonRestoreSeeded (True): the first member formed a new cluster
	// from the snapshot; the others join as learners.
	ReasonRestoreSeeded = "Restored"
)

// Reasons of the Degraded condition.
const (
	ReasonMembersHealthy   = "MembersHealthy"
	ReasonMembersUnhealthy = "MembersUnhealthy"
	ReasonMemberFenced     = "MemberFenced"
	ReasonInvalidSpec      = "InvalidSpec"
	// ReasonNameConflict: an object the cluster needs (StatefulSet,
	// Service, ConfigMap, PodDisruptionBudget) exists under the derived
	// name and belongs to something else, e.g. cluster "kv-peer" and the
	// peer Service of cluster "kv".
	ReasonNameConflict = "NameConflict"
	// ReasonRetainedVolumes: volumes retained from an earlier RaftCluster
	// of the same name exist; the new cluster refuses to mount them (see
	// the README on reattaching or deleting retained volumes).
	ReasonRetainedVolumes = "RetainedVolumes"
)

// RaftCluster runs a Raft key-value cluster: a StatefulSet of raftnode
// members whose membership the operator changes through learners and joint
// consensus.
//
// metadata.name is at most 52 characters: the StatefulSet's pods get a
// controller-revision-hash label "<name>-<hash>" that must fit the 63
// characters of a label value, which leaves 52 for the StatefulSet's name;
// the derived names (<name>-bootstrap, <name>-leader, <name>-<ordinal>)
// then fit a 63-character DNS-1035 label too.
//
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 52",message="metadata.name must be at most 52 characters (the StatefulSet's pods label it with <name>-<hash>)"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter): it names Services"
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=raft,categories=all
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Leader",type=string,JSONPath=`.status.leader`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.currentVersion`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="Available")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RaftCluster struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired cluster.
	// +required
	Spec RaftClusterSpec `json:"spec"`

	// status is the observed cluster.
	// +optional
	Status RaftClusterStatus `json:"status,omitzero"`
}

// RaftClusterList is a list of RaftClusters.
//
// +kubebuilder:object:root=true
type RaftClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the RaftClusters.
	Items []RaftCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RaftCluster{}, &RaftClusterList{})
}
