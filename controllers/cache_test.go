package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/kuberaft/kuberaft/controllers/specs"
)

func TestCacheOptionsFilterToOwnedObjects(t *testing.T) {
	o := CacheOptions([]string{"db", "kv"})
	if len(o.ByObject) != 6 {
		t.Errorf("%d filtered kinds, want pods, PVCs, ConfigMaps, Services, StatefulSets, PDBs", len(o.ByObject))
	}
	for obj, by := range o.ByObject {
		ours := labels.Set{specs.LabelName: specs.AppName, specs.LabelCluster: "kv"}
		if by.Label == nil || !by.Label.Matches(ours) || by.Label.Matches(labels.Set{specs.LabelName: specs.AppName}) ||
			by.Label.Matches(labels.Set{"app": "other"}) {
			t.Errorf("%T: selector %v", obj, by.Label)
		}
	}
	if _, ok := o.DefaultNamespaces["db"]; !ok || len(o.DefaultNamespaces) != 2 {
		t.Errorf("namespaces = %v", o.DefaultNamespaces)
	}
	if all := CacheOptions(nil); all.DefaultNamespaces != nil {
		t.Errorf("no --watch-namespaces must watch all namespaces: %v", all.DefaultNamespaces)
	}
}
