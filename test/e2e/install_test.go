//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// renderedInstall renders a kustomization and returns namespace/name of
// every Deployment (so the test waits for whatever config/ names) and the
// tags of our images those Deployments run.
func (s *suite) renderedInstall(t *testing.T, dir string) (deps [][2]string, tags []string) {
	t.Helper()
	out := s.mustKubectl(t, "", "kustomize", dir)
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		var obj unstructured.Unstructured
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode kubectl kustomize %s: %v", dir, err)
		}
		if obj.GetKind() != "Deployment" {
			continue
		}
		deps = append(deps, [2]string{obj.GetNamespace(), obj.GetName()})
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
			t.Fatalf("decode Deployment %s: %v", obj.GetName(), err)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if repo, tag, ok := strings.Cut(c.Image, ":"); ok && strings.HasPrefix(repo, "kuberaft.local/") {
				tags = append(tags, tag)
			}
		}
	}
	if len(deps) == 0 {
		t.Fatalf("kubectl kustomize %s renders no Deployment", dir)
	}
	return deps, tags
}

// testKustomizeInstall: `kubectl apply -k config/crd` then `kubectl apply
// -k config/default` gives a working operator (a 3-member cluster becomes
// Available and serves a put/get), and `kubectl delete -k config/default`
// removes the operator again before the helm install, keeping the CRD (and
// with it every RaftCluster and its data).
func testKustomizeInstall(t *testing.T) {
	s := env
	dir := filepath.Join(s.root, "config/default")
	deps, tags := s.renderedInstall(t, dir)
	// config/default names its own operator tag (dev); build and load it
	// when it is not one of the run's tags.
	for _, tag := range tags {
		if tag != s.tagA && tag != s.tagB && os.Getenv("E2E_SKIP_IMAGES") != "1" {
			if err := s.buildAndLoadImages(tag); err != nil {
				t.Fatal(err)
			}
		}
	}
	var sc *scenario
	// Registered before the scenario's own cleanup so that it runs after
	// the failure dump (which needs this operator's logs). Always remove
	// this operator: a second one would fight the helm one.
	t.Cleanup(func() {
		if sc != nil {
			s.deleteNamespace(t, sc.ns)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := s.kubectlRun(ctx, "", "delete", "-k", dir, "--ignore-not-found", "--wait", "--timeout=4m"); err != nil {
			t.Errorf("kubectl delete -k: %v", err)
		}
	})
	sc = s.newScenario(t, "kustomize")
	begin := time.Now()
	s.mustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(s.root, "config/crd"))
	s.mustKubectl(t, "", "apply", "--server-side", "-k", dir)
	for _, d := range deps {
		s.waitDeploymentAvailable(t, d[0], d[1], 3*time.Minute)
	}
	sc.figure("operator (kubectl apply -k) available in %s", time.Since(begin).Round(100*time.Millisecond))

	rc := s.applyCluster(t, sc.ns, "kz", 3, s.tagA)
	begin = time.Now()
	rc.waitConverged(t, 3, 5*time.Minute)
	sc.figure("3 members Available in %s", time.Since(begin).Round(100*time.Millisecond))
	putGet(t, rc.clientEndpoint(t), "kustomize/hello", "world")
}

// testHelmInstall installs the chart with the images of this run; every
// later scenario uses this operator.
func testHelmInstall(t *testing.T) {
	s := env
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	// The operator's namespace enforces the restricted profile too (helm's
	// --create-namespace would make it unlabelled).
	if err := s.ensureRestrictedNamespace(ctx, s.opNS); err != nil {
		t.Fatalf("namespace %s: %v", s.opNS, err)
	}
	_, err := s.run(ctx, "", s.helm, "upgrade", "--install", s.release, filepath.Join(s.root, "charts/kuberaft"),
		"--namespace", s.opNS, "--create-namespace",
		"--set", "image.tag="+s.tagA, "--set", "image.pullPolicy=IfNotPresent",
		// The kubectl-plugin scenario holds a step with the operator's
		// test hook; it acts only on clusters that ask for it.
		"--set", "extraArgs[0]=--enable-test-holds",
		// ca-rotation-under-load: both CAs trusted for this long, twice.
		// It must exceed the kubelet's Secret refresh: the offline cluster's
		// kubelet syncs every 10s; hack/kind/e2e.sh sets a longer one for
		// kind's default 1 min (+ jitter).
		"--set", "extraArgs[1]=--ca-rotation-overlap="+s.caOverlap,
		"--wait", "--timeout", "5m")
	took := time.Since(begin)
	res := summaryRow{name: "install-helm", result: "PASS", took: took, figures: []string{fmt.Sprintf("operator (helm install) available in %s", took.Round(100*time.Millisecond))}}
	if err != nil {
		res.result, res.figures = "FAIL", nil
		s.summary.add(res)
		t.Fatal(err)
	}
	s.waitDeploymentAvailable(t, s.opNS, s.release, time.Minute)
	s.summary.add(res)
}
