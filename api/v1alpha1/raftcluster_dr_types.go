package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ScheduledBackupSpec takes a RaftBackup of the cluster on a cron
// schedule and prunes old ones.
type ScheduledBackupSpec struct {
	// schedule is a five-field cron expression, as a Kubernetes CronJob's
	// (e.g. "0 3 * * *", "@daily", "CRON_TZ=Europe/Paris 0 3 * * *").
	// Validated by the operator (robfig/cron ParseStandard).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +required
	Schedule string `json:"schedule"`
	// destination is where each scheduled backup is stored.
	// +required
	Destination BackupDestination `json:"destination"`
	// retention says which finished scheduled backups are kept; pruning
	// deletes the RaftBackup objects and their stored files.
	// +optional
	Retention BackupRetention `json:"retention,omitempty"`
	// suspend stops new scheduled runs (running ones finish).
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// BackupRetention bounds the kept backups; unset fields do not limit.
type BackupRetention struct {
	// keepLast keeps the newest N finished backups.
	// +kubebuilder:validation:Minimum=1
	// +optional
	KeepLast int32 `json:"keepLast,omitempty"`
	// maxAge prunes finished backups older than this (e.g. 168h).
	// +optional
	MaxAge *metav1.Duration `json:"maxAge,omitempty"`
}

// BootstrapSpec says how a new cluster's data starts.
type BootstrapSpec struct {
	// restore seeds the first member from a snapshot; the others join as
	// learners and are promoted as usual.
	// +optional
	Restore *RestoreSource `json:"restore,omitempty"`
}

// RestoreSource is a RaftBackup by name, or a destination and key.
//
// +kubebuilder:validation:XValidation:rule="has(self.backup) != (has(self.destination) && has(self.key))",message="set backup, or destination and key"
type RestoreSource struct {
	// backup is a Completed RaftBackup in the same namespace.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Backup string `json:"backup,omitempty"`
	// destination holds the file to restore (with key).
	// +optional
	Destination *BackupDestination `json:"destination,omitempty"`
	// key is the object key (S3) or path (PVC) of the file.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Key string `json:"key,omitempty"`
	// sha256, if set, must match the file's SHA-256 (hex).
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SHA256 string `json:"sha256,omitempty"`
}

// RecoveryMode is Preview (compute and show a plan) or Apply (carry out
// the plan whose ID is given).
// +kubebuilder:validation:Enum=Preview;Apply
type RecoveryMode string

// Recovery modes.
const (
	RecoveryPreview RecoveryMode = "Preview"
	RecoveryApply   RecoveryMode = "Apply"
)

// RecoverySpec opts into quorum-loss recovery.
//
// +kubebuilder:validation:XValidation:rule="self.mode != 'Apply' || has(self.planID)",message="mode Apply needs the planID shown by Preview"
type RecoverySpec struct {
	// mode is Preview or Apply.
	// +required
	Mode RecoveryMode `json:"mode"`
	// planID is status.recovery.plan.id as shown by Preview; Apply is
	// refused unless it matches the plan computed now.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	PlanID string `json:"planID,omitempty"`
}

// RecoveryMemberStatus is one surviving voter's raft position.
type RecoveryMemberStatus struct {
	// name is the member.
	// +required
	Name string `json:"name"`
	// reachable: it answered.
	// +optional
	Reachable bool `json:"reachable,omitempty"`
	// volumeLost: its PVC is gone.
	// +optional
	VolumeLost bool `json:"volumeLost,omitempty"`
	// term, commit, applied, lastIndex are its raft state.
	// +optional
	Term int64 `json:"term,omitempty"`
	// +optional
	Commit int64 `json:"commit,omitempty"`
	// +optional
	Applied int64 `json:"applied,omitempty"`
	// +optional
	LastIndex int64 `json:"lastIndex,omitempty"`
}

// RecoveryPlanStatus is the plan Preview computed.
type RecoveryPlanStatus struct {
	// id identifies this plan; give it to mode Apply.
	// +required
	ID string `json:"id"`
	// survivor keeps its data and becomes the only voter of a new cluster.
	// +required
	Survivor string `json:"survivor"`
	// discarded members lose their pods and volumes and are replaced.
	// +optional
	Discarded []string `json:"discarded,omitempty"`
	// atRiskEntries estimates the raft entries that may have been
	// acknowledged but are not on the survivor: the last commit index any
	// member reported while healthy minus the survivor's last index.
	// +optional
	AtRiskEntries int64 `json:"atRiskEntries,omitempty"`
}

// RecoveryStatus reports quorum loss and its recovery.
type RecoveryStatus struct {
	// quorumLost: fewer than a majority of voters are reachable with data.
	// +optional
	QuorumLost bool `json:"quorumLost,omitempty"`
	// lastObservedCommit is the highest commit index seen while healthy.
	// +optional
	LastObservedCommit int64 `json:"lastObservedCommit,omitempty"`
	// members are the voters with their raft positions.
	// +optional
	Members []RecoveryMemberStatus `json:"members,omitempty"`
	// plan is the current plan (mode Preview or Apply).
	// +optional
	Plan *RecoveryPlanStatus `json:"plan,omitempty"`
	// apply is the progress of mode Apply: recorded before its first
	// destructive step and kept once done, so that a restarted operator
	// resumes it and the survivor keeps its one-shot force ID.
	// +optional
	Apply *RecoveryApplyStatus `json:"apply,omitempty"`
}

// RecoveryApplyStatus is one Apply of a recovery plan.
type RecoveryApplyStatus struct {
	// planID is the plan being applied; it is also the survivor's
	// --force-new-cluster-id, which makes the forced restart one-shot.
	// +required
	PlanID string `json:"planID"`
	// survivor is the member restarted as the only voter of a new cluster.
	// +required
	Survivor string `json:"survivor"`
	// discarded are the members whose volumes and pods are deleted.
	// +optional
	Discarded []string `json:"discarded,omitempty"`
	// discardedVolumes are the UIDs of the discarded members' PVCs when
	// the Apply started: exactly these are deleted (a PVC the StatefulSet
	// creates afterwards is a fresh, empty one).
	// +optional
	DiscardedVolumes []string `json:"discardedVolumes,omitempty"`
	// discardedPods are the UIDs of the discarded members' pods when the
	// Apply started (they may hold a volume being deleted).
	// +optional
	DiscardedPods []string `json:"discardedPods,omitempty"`
	// step is the last step recorded, before it acts: DeleteVolume(<member>),
	// DeletePod(<member>), ForceSurvivor(<survivor>), WaitSurvivor(<survivor>),
	// GrowBack, Done or Cancel.
	// +optional
	Step string `json:"step,omitempty"`
	// startedAt is when the Apply was recorded.
	// +required
	StartedAt metav1.Time `json:"startedAt"`
	// completedAt is when it finished (Done or Cancel).
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}
