// Package v1alpha1 holds the RaftCluster API: its types, documented condition
// constants and small methods over them. It imports nothing of ours.
//
// +kubebuilder:object:generate=true
// +groupName=raft.kuberaft.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of RaftCluster.
	GroupVersion = schema.GroupVersion{Group: "raft.kuberaft.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this group version with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
