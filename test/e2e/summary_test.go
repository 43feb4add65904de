//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// summary collects each scenario's verdict and figures for the table the
// suite prints at the end.
type summary struct {
	mu   sync.Mutex
	rows []summaryRow
}

type summaryRow struct {
	name    string
	result  string
	took    time.Duration
	figures []string
}

func (sm *summary) add(r summaryRow) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.rows = append(sm.rows, r)
}

// print writes the table to w and to path.
func (sm *summary) print(w io.Writer, path string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	var b strings.Builder
	b.WriteString("\n==== e2e summary ====\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tRESULT\tTIME\tFIGURES")
	for _, r := range sm.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.result, r.took.Round(100*time.Millisecond), strings.Join(r.figures, "; "))
	}
	_ = tw.Flush()
	fmt.Fprint(w, b.String())
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: write summary: %v\n", err)
	}
}

// scenario is one scenario's bookkeeping: its namespace, figures for the
// summary, and the failure dump.
type scenario struct {
	t       *testing.T
	s       *suite
	name    string
	ns      string
	figures []string
}

// newScenario creates the scenario's namespace and registers the cleanup
// that records the result, dumps diagnostics on failure and deletes the
// namespace (kept on failure, and always with E2E_KEEP_NAMESPACES=1).
func (s *suite) newScenario(t *testing.T, short string) *scenario {
	t.Helper()
	sc := &scenario{t: t, s: s, name: t.Name()}
	begin := time.Now()
	sc.ns = s.createNamespace(t, short)
	t.Cleanup(func() {
		res := "PASS"
		switch {
		case t.Failed():
			res = "FAIL"
			sc.dump()
		case t.Skipped():
			res = "SKIP"
		}
		s.summary.add(summaryRow{name: short, result: res, took: time.Since(begin), figures: sc.figures})
		if !t.Failed() && os.Getenv("E2E_KEEP_NAMESPACES") != "1" {
			s.deleteNamespace(t, sc.ns)
		}
	})
	return sc
}

// figure records a number for the summary and logs it.
func (sc *scenario) figure(format string, args ...any) {
	f := fmt.Sprintf(format, args...)
	sc.figures = append(sc.figures, f)
	sc.t.Log(f)
}

// dump writes operator logs, events, pod descriptions and every node's
// /status for the scenario to the artifact folder, and a short tail of it
// to the test log.
func (sc *scenario) dump() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := strings.ReplaceAll(sc.name, "/", "_")
	k := func(args ...string) string {
		out, err := sc.s.kubectlRun(ctx, "", args...)
		if err != nil {
			return err.Error()
		}
		return out
	}
	// Every pod in the operator namespace: the helm and the kustomize
	// installs label their operator differently.
	opLogs := k("-n", sc.s.opNS, "logs", "-l", "app.kubernetes.io/name", "--tail=2000", "--all-containers", "--prefix", "--max-log-requests=10")
	sc.s.writeArtifact(dir, "operator.log", opLogs)
	sc.s.writeArtifact(dir, "events.txt", k("-n", sc.ns, "get", "events", "--sort-by=.lastTimestamp")+
		"\n--- operator namespace ---\n"+k("-n", sc.s.opNS, "get", "events", "--sort-by=.lastTimestamp"))
	sc.s.writeArtifact(dir, "pods.txt", k("-n", sc.ns, "describe", "pods"))
	sc.s.writeArtifact(dir, "raftcluster.yaml", k("-n", sc.ns, "get", "raftcluster", "-o", "yaml"))
	sc.s.writeArtifact(dir, "objects.txt", k("-n", sc.ns, "get", "all,pvc", "-o", "wide"))
	var status strings.Builder
	var pods corev1.PodList
	if err := sc.s.c.List(ctx, &pods, client.InNamespace(sc.ns)); err != nil {
		status.WriteString(err.Error())
	}
	for _, p := range pods.Items {
		fmt.Fprintf(&status, "--- %s (%s) ---\n%s\n", p.Name, p.Status.PodIP, httpStatus(ctx, p.Status.PodIP))
		status.WriteString(k("-n", sc.ns, "logs", p.Name, "--tail=300", "--all-containers") + "\n")
	}
	sc.s.writeArtifact(dir, "nodes.txt", status.String())
	sc.t.Logf("diagnostics in %s/%s; node status:\n%s", sc.s.artifacts, dir, tail(status.String(), 4000))
	sc.t.Logf("operator log tail:\n%s", tail(opLogs, 3000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
