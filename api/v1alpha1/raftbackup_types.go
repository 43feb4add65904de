package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RaftBackupSpec names the cluster to back up and where the file goes.
// It cannot change once created: a backup is one event.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a RaftBackup's spec is immutable"
type RaftBackupSpec struct {
	// cluster is the name of the RaftCluster, in the same namespace, to
	// take the snapshot of.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Cluster string `json:"cluster"`

	// destination is where the snapshot file is stored.
	// +required
	Destination BackupDestination `json:"destination"`
}

// BackupDestination is exactly one of a PersistentVolumeClaim or an
// S3-compatible bucket.
//
// +kubebuilder:validation:XValidation:rule="has(self.pvc) != has(self.s3)",message="set exactly one of pvc or s3"
type BackupDestination struct {
	// pvc stores the file on a PersistentVolumeClaim (ReadWriteOnce is
	// enough: the backup Job mounts it alone).
	// +optional
	PVC *PVCDestination `json:"pvc,omitempty"`
	// s3 stores the file in an S3-compatible bucket.
	// +optional
	S3 *S3Destination `json:"s3,omitempty"`
}

// PVCDestination is a claim and a directory on it.
type PVCDestination struct {
	// claimName is the PersistentVolumeClaim in the backup's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	ClaimName string `json:"claimName"`
	// prefix is the directory on the volume the files go under.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^[^.][^\s]*$|^$`
	// +optional
	Prefix string `json:"prefix,omitempty"`
}

// S3Destination is a bucket on an S3-compatible server.
type S3Destination struct {
	// endpoint is the server's URL, e.g. https://s3.example.com:9000.
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+/?$`
	// +kubebuilder:validation:MaxLength=512
	// +required
	Endpoint string `json:"endpoint"`
	// bucket is the bucket name; it must exist.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +required
	Bucket string `json:"bucket"`
	// prefix is prepended to every object key.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// region is the bucket's region (servers that ignore it accept any).
	// +kubebuilder:default=us-east-1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`
	// credentialsSecret names a Secret in the backup's namespace with the
	// keys accessKeyID and secretAccessKey.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	CredentialsSecret string `json:"credentialsSecret"`
	// caBundle names a Secret key holding PEM CA certificates to trust for
	// an https endpoint with a private CA.
	// +optional
	CABundle *SecretKeyRef `json:"caBundle,omitempty"`
}

// SecretKeyRef is one key of a Secret in the same namespace.
type SecretKeyRef struct {
	// name is the Secret's name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// key is the key within the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Key string `json:"key"`
}

// BackupPhase is where a RaftBackup is in its life.
// +kubebuilder:validation:Enum=Pending;Running;Completed;Failed
type BackupPhase string

// Phases of a RaftBackup.
const (
	// BackupPending: waiting for a healthy member to take it from.
	BackupPending BackupPhase = "Pending"
	// BackupRunning: the snapshot is being taken and stored.
	BackupRunning BackupPhase = "Running"
	// BackupCompleted: the file is stored and verified (final).
	BackupCompleted BackupPhase = "Completed"
	// BackupFailed: the backup failed; error says why (final).
	BackupFailed BackupPhase = "Failed"
)

// RaftBackupStatus is what the backup produced.
type RaftBackupStatus struct {
	// phase is Pending, Running, Completed or Failed.
	// +optional
	Phase BackupPhase `json:"phase,omitempty"`
	// member is the member the snapshot was taken from (a healthy
	// follower when there is one).
	// +optional
	Member string `json:"member,omitempty"`
	// clusterID is the source cluster's ID (hex).
	// +optional
	ClusterID string `json:"clusterID,omitempty"`
	// appliedIndex is the raft index the snapshot holds everything up to.
	// +optional
	AppliedIndex int64 `json:"appliedIndex,omitempty"`
	// revision is the KV store revision of the snapshot.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// sizeBytes is the file's size in bytes.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// size is sizeBytes for humans (printer column), e.g. 1.5Mi.
	// +optional
	Size string `json:"size,omitempty"`
	// sha256 is the hex SHA-256 of the stored file.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// key is the file's object key (S3) or path (PVC) in the destination.
	// +optional
	Key string `json:"key,omitempty"`
	// location is where the file is: s3://bucket/key or pvc://claim/path.
	// +optional
	Location string `json:"location,omitempty"`
	// startTime is when the snapshot started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime is when the backup reached a final phase.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// error says why the backup failed.
	// +optional
	Error string `json:"error,omitempty"`
	// conditions: Ready (the file is stored and verified).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RaftBackup is one snapshot of a RaftCluster stored to a volume or a
// bucket. Deleting it deletes the stored file.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=rbk,categories=all
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.revision`,priority=1
// +kubebuilder:printcolumn:name="Member",type=string,JSONPath=`.status.member`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RaftBackup struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is what to back up and where.
	// +required
	Spec RaftBackupSpec `json:"spec"`

	// status is the backup's outcome.
	// +optional
	Status RaftBackupStatus `json:"status,omitzero"`
}

// RaftBackupList is a list of RaftBackups.
//
// +kubebuilder:object:root=true
type RaftBackupList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the RaftBackups.
	Items []RaftBackup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RaftBackup{}, &RaftBackupList{})
}
