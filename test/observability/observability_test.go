package observability

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kuberaft/kuberaft/controllers/clustermetrics"
	"github.com/kuberaft/kuberaft/controllers/status"
	"github.com/kuberaft/kuberaft/node/metrics"
)

const (
	dashboardGlob = "../../charts/kuberaft/files/dashboards/*.json"
	rulesGlob     = "../../charts/kuberaft/files/alerts/*.yaml"
)

// ours matches a metric name of our components' prefixes; other names
// (kubelet_volume_stats_*) come from Kubernetes itself.
var ours = regexp.MustCompile(`\b(etcd|kuberaft)_[a-zA-Z0-9_]*`)

// histogramSeries are the series suffixes of a histogram family.
var histogramSeries = []string{"_bucket", "_sum", "_count"}

// exported is every family the node and the operator export.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names, err := metrics.Names()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range append(names, clustermetrics.Names()...) {
		out[n] = true
	}
	return out
}

// unknownMetrics returns the names of ours in expr that no component exports.
func unknownMetrics(expr string, known map[string]bool) (used, unknown []string) {
	for _, name := range ours.FindAllString(expr, -1) {
		used = append(used, name)
		family := name
		for _, s := range histogramSeries {
			if base, ok := strings.CutSuffix(name, s); ok && known[base] {
				family = base
			}
		}
		if !known[family] {
			unknown = append(unknown, name)
		}
	}
	return used, unknown
}

type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func files(t *testing.T, glob string) []string {
	t.Helper()
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files match %s (%v)", glob, err)
	}
	return paths
}

func TestDashboardsUseOnlyExportedMetrics(t *testing.T) {
	known := exported(t)
	for _, path := range files(t, dashboardGlob) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s does not parse: %v", path, err)
		}
		if d.Title == "" || len(d.Panels) == 0 {
			t.Fatalf("%s has no title or no panels", path)
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", path, p.Title)
			}
			for _, target := range p.Targets {
				used, unknown := unknownMetrics(target.Expr, known)
				if len(used) == 0 {
					t.Errorf("%s: panel %q queries none of our metrics: %s", path, p.Title, target.Expr)
				}
				if len(unknown) > 0 {
					t.Errorf("%s: panel %q uses %v, which no component exports", path, p.Title, unknown)
				}
			}
		}
		for _, v := range d.Templating.List {
			q, _ := json.Marshal(v.Query)
			if _, unknown := unknownMetrics(string(q), known); len(unknown) > 0 {
				t.Errorf("%s: variable %s uses %v, which no component exports", path, v.Name, unknown)
			}
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string      `json:"name"`
		Rules []alertRule `json:"rules"`
	} `json:"groups"`
}

type alertRule struct {
	Alert string `json:"alert"`
	Expr  string `json:"expr"`
}

// alertRules reads every rule of the chart's rule files, each with the
// file it is in (for messages).
func alertRules(t *testing.T) (rules []alertRule, paths []string) {
	t.Helper()
	for _, path := range files(t, rulesGlob) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.Unmarshal(raw, &rf); err != nil {
			t.Fatalf("%s does not parse: %v", path, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				rules, paths = append(rules, r), append(paths, path)
			}
		}
	}
	return rules, paths
}

func TestAlertRulesUseOnlyExportedMetrics(t *testing.T) {
	known := exported(t)
	var alerts []string
	rules, paths := alertRules(t)
	for i, r := range rules {
		alerts = append(alerts, r.Alert)
		if _, unknown := unknownMetrics(r.Expr, known); len(unknown) > 0 {
			t.Errorf("%s: alert %s uses %v, which no component exports", paths[i], r.Alert, unknown)
		}
	}
	// The alerts the issue asks for.
	for _, want := range []string{"KuberaftNoLeader", "KuberaftQuorumAtRisk", "KuberaftMemberUnhealthy", "KuberaftMemberLagging",
		"KuberaftFrequentLeaderChanges", "KuberaftHighFsyncDurations", "KuberaftVolumeNearlyFull", "KuberaftOperationStuck",
		"KuberaftCertificateExpiringSoon", "KuberaftCertificateInvalid", "KuberaftBackupFailed", "KuberaftBackupTooOld"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing (have %v)", want, alerts)
		}
	}
}

// KuberaftCertificateExpiringSoon fires in the window in which the
// operator sets CertificatesReady False: PromQL cannot import the Go
// constant, so this keeps the two from drifting apart.
func TestCertificateAlertUsesTheOperatorsWarningWindow(t *testing.T) {
	want := fmt.Sprintf("< %d", int64(status.ExpiryWarning.Seconds()))
	rules, paths := alertRules(t)
	for i, r := range rules {
		if r.Alert == "KuberaftCertificateExpiringSoon" {
			if !strings.Contains(r.Expr, want) {
				t.Errorf("%s: KuberaftCertificateExpiringSoon is %q, want the threshold %q (status.ExpiryWarning)", paths[i], r.Expr, want)
			}
			return
		}
	}
	t.Error("no KuberaftCertificateExpiringSoon alert")
}

// The checker itself must catch a misspelt metric.
func TestUnknownMetricsCatchesAMisspelling(t *testing.T) {
	known := map[string]bool{"etcd_disk_wal_fsync_duration_seconds": true}
	if _, unknown := unknownMetrics(`rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m]) + etcd_disk_wal_fsync_seconds`, known); !slices.Equal(unknown, []string{"etcd_disk_wal_fsync_seconds"}) {
		t.Errorf("unknown = %v", unknown)
	}
}
