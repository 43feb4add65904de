package envtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

func unstructuredBackup(ns, name string, spec map[string]any) *unstructured.Unstructured {
	return unstructuredOf("RaftBackup", ns, name, spec)
}

func s3Dest() map[string]any {
	return map[string]any{"endpoint": "http://s3:9000", "bucket": "bkt", "credentialsSecret": "creds"}
}

// TestRaftBackupValidation: exactly one destination, an immutable spec,
// and the recovery/bootstrap rules on RaftCluster.
func TestRaftBackupValidation(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	for i, tc := range []struct {
		name string
		spec map[string]any
		want string
	}{
		{"no destination", map[string]any{"cluster": "kv", "destination": map[string]any{}}, "set exactly one of pvc or s3"},
		{"two destinations", map[string]any{"cluster": "kv", "destination": map[string]any{"s3": s3Dest(), "pvc": map[string]any{"claimName": "c"}}}, "set exactly one of pvc or s3"},
		{"bad endpoint", map[string]any{"cluster": "kv", "destination": map[string]any{"s3": with(s3Dest(), "endpoint", "s3:9000")}}, "spec.destination.s3.endpoint in body should match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(ctx, unstructuredBackup(ns, fmt.Sprintf("bad-%d", i), tc.spec))
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	good := unstructuredBackup(ns, "good", map[string]any{"cluster": "kv", "destination": map[string]any{"s3": s3Dest()}})
	if err := k8s.Create(ctx, good); err != nil {
		t.Fatal(err)
	}
	var b raftv1alpha1.RaftBackup
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "good"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.Destination.S3.Region != "us-east-1" {
		t.Errorf("region %q, want the default us-east-1", b.Spec.Destination.S3.Region)
	}
	b.Spec.Cluster = "other"
	if err := k8s.Update(ctx, &b); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "a RaftBackup's spec is immutable") {
		t.Errorf("err = %v, want the spec to be immutable", err)
	}

	rc := createCluster(t, ctx, ns)
	rc.Spec.Bootstrap = &raftv1alpha1.BootstrapSpec{Restore: &raftv1alpha1.RestoreSource{Backup: "good"}}
	if err := k8s.Update(ctx, rc); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "bootstrap can only be set when the cluster is created") {
		t.Errorf("err = %v, want restore into an existing cluster refused", err)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(rc), rc); err != nil {
		t.Fatal(err)
	}
	rc.Spec.Recovery = &raftv1alpha1.RecoverySpec{Mode: raftv1alpha1.RecoveryApply}
	if err := k8s.Update(ctx, rc); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "mode Apply needs the planID shown by Preview") {
		t.Errorf("err = %v, want Apply without a plan ID refused", err)
	}
}

// TestRaftBackupColumns: `kubectl get rbk` shows Cluster, Phase, Size, Age.
func TestRaftBackupColumns(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "raft.kuberaft.io_raftbackups.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(crd.Spec.Names.ShortNames, "rbk") {
		t.Errorf("short names %v, want rbk", crd.Spec.Names.ShortNames)
	}
	var shown []string
	for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
		if c.Priority == 0 {
			shown = append(shown, c.Name)
		}
	}
	if want := []string{"Cluster", "Phase", "Size", "Age"}; !slices.Equal(shown, want) {
		t.Errorf("default columns %v, want %v", shown, want)
	}
}
