package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kuberaft/kuberaft/controllers/specs"
)

// CacheOptions keeps the manager's informers to what the operator owns:
// pods, PVCs, ConfigMaps, Services, StatefulSets and PDBs carrying the
// raftnode name label and a cluster label (every object the builders make,
// and every pod and PVC their StatefulSet makes, has both). Without it a
// large cluster's every pod and ConfigMap would be cached. namespaces, when
// not empty, limits every informer (RaftClusters included) to them.
//
// An object of a derived name without these labels is invisible to the
// cache; creating ours then fails with AlreadyExists, which the controller
// reports as a name conflict (see claim).
func CacheOptions(namespaces []string) cache.Options {
	owned := labels.NewSelector()
	name, err := labels.NewRequirement(specs.LabelName, selection.Equals, []string{specs.AppName})
	if err != nil {
		panic(err) // constant input: a programming error
	}
	cluster, err := labels.NewRequirement(specs.LabelCluster, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	owned = owned.Add(*name, *cluster)
	o := cache.Options{ByObject: map[client.Object]cache.ByObject{}}
	for _, obj := range []client.Object{&corev1.Pod{}, &corev1.PersistentVolumeClaim{}, &corev1.ConfigMap{},
		&corev1.Service{}, &appsv1.StatefulSet{}, &policyv1.PodDisruptionBudget{}} {
		o.ByObject[obj] = cache.ByObject{Label: owned}
	}
	if len(namespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}
