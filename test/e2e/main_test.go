//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	raftv1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// suite is what every scenario shares: where the repository and tools are,
// the two image tags, and a client of the cluster under test.
type suite struct {
	root      string // repository root
	kubectl   string
	helm      string
	artifacts string
	opNS      string // namespace of the helm-installed operator
	caOverlap string // the operator's --ca-rotation-overlap (see install-helm)
	release   string // helm release name
	tagA      string // node + operator image tag installed first
	tagB      string // node image tag of the rolling upgrade
	cfg       *rest.Config
	c         client.Client
	summary   summary
}

var env *suite

// TestMain prepares the cluster once (images), runs the scenarios in the
// order TestE2E gives, then prints the summary even when a scenario failed.
func TestMain(m *testing.M) {
	s, err := newSuite()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: setup: %v\n", err)
		os.Exit(1)
	}
	env = s
	code := m.Run()
	s.summary.print(os.Stdout, filepath.Join(s.artifacts, "summary.txt"))
	os.Exit(code)
}

func newSuite() (*suite, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	s := &suite{
		root:      root,
		kubectl:   envOr("KUBECTL", "kubectl"),
		helm:      envOr("HELM", "helm"),
		artifacts: envOr("E2E_ARTIFACTS", filepath.Join(root, ".cache/e2e")),
		opNS:      envOr("E2E_OPERATOR_NAMESPACE", "kuberaft-system"),
		release:   "kuberaft",
		tagA:      envOr("E2E_TAG_A", "e2e-a"),
		tagB:      envOr("E2E_TAG_B", "e2e-b"),
		caOverlap: envOr("E2E_CA_OVERLAP", "30s"),
	}
	if err := os.MkdirAll(s.artifacts, 0o755); err != nil {
		return nil, err
	}
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	s.cfg = cfg
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := raftv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if s.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.c.List(ctx, &corev1.NamespaceList{}); err != nil {
		return nil, fmt.Errorf("the cluster does not answer: %w", err)
	}
	if err := s.refuseForeignClusters(ctx); err != nil {
		return nil, err
	}
	// Namespaces kept by a failed earlier run would compete for the CPU
	// (namespaces have no deletecollection, hence one by one).
	var old corev1.NamespaceList
	if err := s.c.List(ctx, &old, client.MatchingLabels{e2eLabel: "true"}); err != nil {
		return nil, err
	}
	for i := range old.Items {
		if err := s.c.Delete(ctx, &old.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete namespace %s of an earlier run: %w", old.Items[i].Name, err)
		}
	}
	if os.Getenv("E2E_SKIP_IMAGES") != "1" {
		if err := s.buildAndLoadImages(s.tagA, s.tagB); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// refuseForeignClusters stops the suite on a cluster that holds
// RaftClusters it did not create (outside namespaces labelled e2eLabel),
// e.g. `make demo`'s: the suite installs and removes operators, and a user's
// data must not depend on that going right. E2E_ALLOW_FOREIGN_CLUSTERS=1
// runs anyway; the suite never deletes the CRD or anything outside its own
// namespaces either way.
func (s *suite) refuseForeignClusters(ctx context.Context) error {
	var rcs raftv1.RaftClusterList
	switch err := s.c.List(ctx, &rcs); {
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
		return nil // no CRD: no cluster at all
	case err != nil:
		return fmt.Errorf("list RaftClusters: %w", err)
	}
	var foreign []string
	for _, rc := range rcs.Items {
		var ns corev1.Namespace
		if err := s.c.Get(ctx, client.ObjectKey{Name: rc.Namespace}, &ns); err != nil {
			return fmt.Errorf("get namespace %s: %w", rc.Namespace, err)
		}
		if ns.Labels[e2eLabel] != "true" {
			foreign = append(foreign, rc.Namespace+"/"+rc.Name)
		}
	}
	if len(foreign) > 0 && os.Getenv("E2E_ALLOW_FOREIGN_CLUSTERS") != "1" {
		return fmt.Errorf("the cluster holds RaftClusters this suite did not create: %s; run against a cluster of "+
			"its own (make cluster-up), or set E2E_ALLOW_FOREIGN_CLUSTERS=1 to run next to them (the suite never "+
			"deletes the CRD or anything outside its own namespaces)", strings.Join(foreign, ", "))
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// TestE2E runs the scenarios in a fixed order: the kustomize install first
// (it must leave no operator behind), then the helm install every other
// scenario uses; the multi-node scenarios when E2E_MULTINODE=1; the rolling
// upgrade last, as it is the longest.
func TestE2E(t *testing.T) {
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"install-kustomize", testKustomizeInstall},
		{"install-helm", testHelmInstall},
		{"create", testCreate},
		{"invalid-manifests", testInvalidManifests},
		{"leader-failover", testLeaderFailover},
		{"replace-member", testReplaceMember},
		{"scale-under-load", testScaleUnderLoad},
		{"operator-restart-mid-scale", testOperatorRestartMidScale},
		{"kubectl-plugin", testKubectlPlugin},
		{"no-client-cert-refused", testNoClientCertRefused},
		{"ca-rotation-under-load", testCARotationUnderLoad},
		{"quorum-loss-recovery", testQuorumLossRecovery},
		{"backups", testBackups}, // backup-restore and scheduled-backups, in parallel
	}
	steps = append(steps, multiNodeSteps()...) // E2E_MULTINODE=1 (make e2e-kind)
	steps = append(steps, struct {
		name string
		run  func(t *testing.T)
	}{"rolling-upgrade-under-load", testRollingUpgradeUnderLoad})
	for _, st := range steps {
		ok := t.Run(st.name, st.run)
		if !ok && (st.name == "install-helm") {
			t.Fatalf("the operator could not be installed with helm; the remaining scenarios need it")
		}
	}
}
