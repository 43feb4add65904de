package specs

import (
	"strings"
	"testing"

	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

// TestPodTemplatePassesRestricted runs Pod Security admission's own checks
// (the code the API server enforces with
// pod-security.kubernetes.io/enforce=restricted) on the member pod template
// of every TLS mode.
func TestPodTemplatePassesRestricted(t *testing.T) {
	eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, tt := range []struct {
		name string
		mode raftv1alpha1.TLSMode
	}{
		{"managed", raftv1alpha1.TLSManaged},
		{"disabled", raftv1alpha1.TLSDisabled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := cluster(func(rc *raftv1alpha1.RaftCluster) { rc.Spec.TLS.Mode = tt.mode })
			tmpl := StatefulSet(rc, opts, 3).Spec.Template
			res := psapolicy.AggregateCheckResults(eval.EvaluatePod(restricted, &tmpl.ObjectMeta, &tmpl.Spec))
			if !res.Allowed {
				t.Errorf("member pod violates the restricted profile: %s", strings.Join(res.ForbiddenReasons, "; "))
			}
			sc := tmpl.Spec.SecurityContext
			if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.FSGroup == nil || *sc.FSGroup != *sc.RunAsUser {
				t.Errorf("pod security context %+v: want a fixed non-root user and fsGroup (the data and TLS volumes are the group's)", sc)
			}
			if c := tmpl.Spec.Containers[0].SecurityContext; c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
				t.Error("the root filesystem is writable")
			}
		})
	}
}
