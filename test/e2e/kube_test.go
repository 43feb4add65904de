//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// run executes a command from the repository root, with stdin when given,
// and returns its combined output; the error carries that output.
func (s *suite) run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.root
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func (s *suite) kubectlRun(ctx context.Context, stdin string, args ...string) (string, error) {
	return s.run(ctx, stdin, s.kubectl, args...)
}

// mustKubectl runs kubectl and fails the test on error.
func (s *suite) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := s.kubectlRun(ctx, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// buildAndLoadImages builds the node and operator images under each tag and
// makes them available to the cluster (ctr import or kind load, as the
// project's scripts decide).
func (s *suite) buildAndLoadImages(tags ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for _, tag := range tags {
		for _, script := range []string{"hack/build-images.sh", "hack/load-images.sh"} {
			begin := time.Now()
			fmt.Printf("e2e: %s %s\n", script, tag)
			if _, err := s.run(ctx, "", filepath.Join(s.root, script), tag); err != nil {
				return err
			}
			fmt.Printf("e2e: %s %s done in %s\n", script, tag, time.Since(begin).Round(time.Second))
		}
	}
	return nil
}

// eventually polls cond every interval until it returns true or timeout
// passes; on timeout it fails the test with what and cond's last message.
func eventually(t *testing.T, timeout, interval time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	if err := poll(timeout, interval, cond); err != nil {
		t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
	}
}

// poll is eventually without a test: it returns an error on timeout.
func poll(timeout, interval time.Duration, cond func(ctx context.Context) (bool, string)) error {
	deadline := time.Now().Add(timeout)
	last := "never checked"
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(10*time.Second, timeout))
		ok, msg := cond(ctx)
		cancel()
		if ok {
			return nil
		}
		last = msg
		if time.Now().After(deadline) {
			return fmt.Errorf("last seen: %s", last)
		}
		time.Sleep(interval)
	}
}

// e2eLabel marks the namespaces the suite creates.
const e2eLabel = "kuberaft.io/e2e"

// restrictedLabels make the API server refuse any pod of the namespace
// that breaks the restricted Pod Security profile: a member or operator
// pod that does fails the scenario (its StatefulSet or Deployment reports
// FailedCreate and never becomes ready).
var restrictedLabels = map[string]string{
	"pod-security.kubernetes.io/enforce":         "restricted",
	"pod-security.kubernetes.io/enforce-version": "latest",
}

// createNamespace makes a fresh namespace for one scenario.
func (s *suite) createNamespace(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("e2e-%s-%s", prefix, rand.String(5))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	labels := map[string]string{e2eLabel: "true"}
	maps.Copy(labels, restrictedLabels)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := s.c.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// ensureRestrictedNamespace creates (or labels) a namespace the suite
// installs into, with restrictedLabels.
func (s *suite) ensureRestrictedNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: maps.Clone(restrictedLabels)}}
	err := s.c.Create(ctx, ns)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := s.c.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		return err
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	maps.Copy(ns.Labels, restrictedLabels)
	return s.c.Patch(ctx, ns, patch)
}

// deleteNamespace removes a scenario's namespace and waits (bounded) until
// it is gone, so the next scenario has the CPU to itself.
func (s *suite) deleteNamespace(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := s.c.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", name, err)
		return
	}
	err := poll(3*time.Minute, time.Second, func(ctx context.Context) (bool, string) {
		err := s.c.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
		return apierrors.IsNotFound(err), fmt.Sprintf("namespace %s still exists (%v)", name, err)
	})
	if err != nil {
		t.Errorf("namespace %s not deleted: %v", name, err)
	}
}

// pods lists the RaftCluster member pods of a namespace (each scenario's
// namespace holds one RaftCluster), sorted by name.
func (s *suite) pods(ctx context.Context, ns string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := s.c.List(ctx, &list, client.InNamespace(ns), client.HasLabels{"raft.kuberaft.io/cluster"}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.PodIP == "" {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitDeploymentAvailable waits until every replica of a Deployment is
// updated and available.
func (s *suite) waitDeploymentAvailable(t *testing.T, ns, name string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, time.Second, "deployment "+ns+"/"+name+" available", func(ctx context.Context) (bool, string) {
		var d appsv1.Deployment
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
			return false, err.Error()
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		ok := st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want
		return ok, fmt.Sprintf("updated %d available %d total %d of %d", st.UpdatedReplicas, st.AvailableReplicas, st.Replicas, want)
	})
}

// writeArtifact stores a dump file under the scenario's artifact folder.
func (s *suite) writeArtifact(scenario, name, content string) {
	dir := filepath.Join(s.artifacts, scenario)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: artifacts: %v\n", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: artifacts: %v\n", err)
	}
}
