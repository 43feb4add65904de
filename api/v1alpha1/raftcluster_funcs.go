package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultReplicas is spec.replicas when it is unset (the CRD defaults it too).
const DefaultReplicas int32 = 3

// DefaultImageRepository is where `version` tags are looked up.
const DefaultImageRepository = "kuberaft.local/raftnode"

// DesiredReplicas returns spec.replicas, or its default when unset.
func (rc *RaftCluster) DesiredReplicas() int32 {
	if rc.Spec.Replicas == nil {
		return DefaultReplicas
	}
	return *rc.Spec.Replicas
}

// TLSMode is spec.tls.mode, Managed when unset (the CRD defaults it too).
func (rc *RaftCluster) TLSMode() TLSMode {
	if rc.Spec.TLS.Mode == "" {
		return TLSManaged
	}
	return rc.Spec.TLS.Mode
}

// TLSEnabled tells whether the members serve and dial with TLS.
func (rc *RaftCluster) TLSEnabled() bool { return rc.TLSMode() != TLSDisabled }

// DesiredImage returns the image the members must run: spec.image when set,
// else DefaultImageRepository:spec.version.
func (rc *RaftCluster) DesiredImage() string {
	if rc.Spec.Image != "" {
		return rc.Spec.Image
	}
	return DefaultImageRepository + ":" + rc.Spec.Version
}

// VersionLabel is what status.currentVersion shows for the desired image:
// the version when the image was derived from it, else the image.
func (rc *RaftCluster) VersionLabel() string {
	if rc.Spec.Image == "" {
		return rc.Spec.Version
	}
	return rc.Spec.Image
}

// VolumeReclaimPolicy returns spec.storage.reclaimPolicy, or Retain (its
// default) when unset: keeping data is the safe side.
func (rc *RaftCluster) VolumeReclaimPolicy() ReclaimPolicy {
	if rc.Spec.Storage.ReclaimPolicy == "" {
		return ReclaimRetain
	}
	return rc.Spec.Storage.ReclaimPolicy
}

// Condition returns the condition of the given type, or nil.
func (rc *RaftCluster) Condition(conditionType string) *metav1.Condition {
	return meta.FindStatusCondition(rc.Status.Conditions, conditionType)
}

// Active reports whether the Apply is still under way.
func (a *RecoveryApplyStatus) Active() bool { return a != nil && a.CompletedAt == nil }

// RestoreSource is spec.bootstrap.restore, nil when the cluster starts
// empty.
func (rc *RaftCluster) RestoreSource() *RestoreSource {
	if rc.Spec.Bootstrap == nil {
		return nil
	}
	return rc.Spec.Bootstrap.Restore
}
