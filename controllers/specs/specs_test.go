package specs

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

var opts = Options{ClusterDomain: "cluster.local"}

func cluster(mutators ...func(*raftv1alpha1.RaftCluster)) *raftv1alpha1.RaftCluster {
	rc := &raftv1alpha1.RaftCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "kv", Namespace: "db", UID: "u1"},
		Spec: raftv1alpha1.RaftClusterSpec{Replicas: ptr.To[int32](3), Version: "v1",
			Storage: raftv1alpha1.StorageSpec{Size: resource.MustParse("2Gi"), StorageClassName: ptr.To("fast")},
			Raft:    raftv1alpha1.RaftSettings{HeartbeatInterval: 50, ElectionTimeout: 500, SnapshotCount: 1000}},
	}
	for _, m := range mutators {
		m(rc)
	}
	return rc
}

func TestStatefulSet(t *testing.T) {
	sts := StatefulSet(cluster(), opts, 5)
	if *sts.Spec.Replicas != 5 {
		t.Errorf("replicas = %d, want the membership-derived 5", *sts.Spec.Replicas)
	}
	if sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		t.Errorf("updateStrategy = %v, want OnDelete", sts.Spec.UpdateStrategy.Type)
	}
	if sts.Spec.ServiceName != "kv-peer" {
		t.Errorf("serviceName = %q", sts.Spec.ServiceName)
	}
	pvc := sts.Spec.VolumeClaimTemplates[0]
	if pvc.Name != DataVolume || *pvc.Spec.StorageClassName != "fast" || pvc.Spec.Resources.Requests.Storage().String() != "2Gi" {
		t.Errorf("volumeClaimTemplate = %+v", pvc)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	if c.Image != "kuberaft.local/raftnode:v1" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image = %s %s", c.Image, c.ImagePullPolicy)
	}
	if c.LivenessProbe.HTTPGet.Path != "/livez" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes = %v / %v", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	for _, want := range []string{
		"--name=$(POD_NAME)",
		"--initial-advertise-peer-urls=https://$(POD_NAME).kv-peer.$(POD_NAMESPACE).svc.cluster.local:2380",
		"--advertise-client-urls=https://$(POD_NAME).kv-peer.$(POD_NAMESPACE).svc.cluster.local:2379",
		"--initial-cluster=$(INITIAL_CLUSTER)", "--initial-cluster-state=$(INITIAL_CLUSTER_STATE)",
		"--initial-cluster-token=$(INITIAL_CLUSTER_TOKEN)", "--listen-metrics-urls=http://0.0.0.0:8080",
		"--heartbeat-interval=50", "--election-timeout=500", "--snapshot-count=1000",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args lack %q: %v", want, c.Args)
		}
	}
	// $(VAR) expands only for variables defined earlier in env.
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
	}
	for _, want := range []string{"POD_NAME", "POD_NAMESPACE", KeyInitialCluster, KeyInitialClusterState, KeyInitialClusterToken} {
		if !slices.Contains(names, want) {
			t.Errorf("env lacks %s", want)
		}
	}
}

func TestPodTemplateOverridesAndReservedLabels(t *testing.T) {
	rc := cluster(func(rc *raftv1alpha1.RaftCluster) {
		rc.Spec.PodTemplate = raftv1alpha1.PodTemplateOverrides{
			Labels:       map[string]string{"team": "a"},
			Annotations:  map[string]string{"note": "x"},
			NodeSelector: map[string]string{"disk": "ssd"},
			Tolerations:  []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		}
	})
	tpl := PodTemplate(rc, opts)
	if tpl.Labels["team"] != "a" || tpl.Labels[LabelCluster] != "kv" || tpl.Annotations["note"] != "x" {
		t.Errorf("metadata = %v %v", tpl.Labels, tpl.Annotations)
	}
	if tpl.Spec.NodeSelector["disk"] != "ssd" || len(tpl.Spec.Tolerations) != 1 {
		t.Errorf("scheduling = %v %v", tpl.Spec.NodeSelector, tpl.Spec.Tolerations)
	}
	if tpl.Spec.Affinity.PodAntiAffinity == nil {
		t.Error("default affinity should spread members over nodes")
	}
}

func TestTemplateHash(t *testing.T) {
	base := PodTemplate(cluster(), opts).Annotations[AnnotationTemplateHash]
	if again := PodTemplate(cluster(), opts).Annotations[AnnotationTemplateHash]; again != base {
		t.Errorf("hash not stable: %s vs %s", base, again)
	}
	for name, m := range map[string]func(*raftv1alpha1.RaftCluster){
		"version": func(rc *raftv1alpha1.RaftCluster) { rc.Spec.Version = "v2" },
		"image":   func(rc *raftv1alpha1.RaftCluster) { rc.Spec.Image = "other/raftnode:v1" },
		"resources": func(rc *raftv1alpha1.RaftCluster) {
			rc.Spec.Resources.Limits = corev1.ResourceList{"cpu": resource.MustParse("1")}
		},
		"raft": func(rc *raftv1alpha1.RaftCluster) { rc.Spec.Raft.SnapshotCount = 5 },
	} {
		if h := PodTemplate(cluster(m), opts).Annotations[AnnotationTemplateHash]; h == base {
			t.Errorf("changing %s does not change the template hash", name)
		}
	}
	if h := PodTemplate(cluster(func(rc *raftv1alpha1.RaftCluster) { rc.Spec.Replicas = ptr.To[int32](7) }), opts).
		Annotations[AnnotationTemplateHash]; h != base {
		t.Error("replicas must not change the pod template (it would restart every member on scale)")
	}
}

func TestServices(t *testing.T) {
	rc := cluster()
	peer := PeerService(rc)
	if peer.Spec.ClusterIP != corev1.ClusterIPNone || !peer.Spec.PublishNotReadyAddresses {
		t.Errorf("peer Service must be headless and publish not-ready pods: %+v", peer.Spec)
	}
	if got := LeaderService(rc).Spec.Selector[LabelRole]; got != RoleLeader {
		t.Errorf("leader Service selects role=%q", got)
	}
	if ClientService(rc).Spec.PublishNotReadyAddresses {
		t.Error("client Service must only route to ready members")
	}
}

func TestPodDisruptionBudgetKeepsQuorumOfVoters(t *testing.T) {
	for voters, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 7: 4, 9: 5} {
		pdb := PodDisruptionBudget(cluster(), voters)
		if got := pdb.Spec.MinAvailable.IntValue(); got != want {
			t.Errorf("%d voters: minAvailable = %d, want %d", voters, got, want)
		}
		req := pdb.Spec.Selector.MatchExpressions[0]
		if req.Key != LabelRole || slices.Contains(req.Values, RoleLearner) {
			t.Errorf("PDB must select voters only: %+v", req)
		}
	}
}

func TestBootstrapConfigMap(t *testing.T) {
	cm := BootstrapConfigMap(cluster(), opts, []string{"kv-0", "kv-1"}, StateNew)
	want := "kv-0=https://kv-0.kv-peer.db.svc.cluster.local:2380,kv-1=https://kv-1.kv-peer.db.svc.cluster.local:2380"
	if got := cm.Data[KeyInitialCluster]; got != want {
		t.Errorf("INITIAL_CLUSTER = %s", got)
	}
	if cm.Data[KeyInitialClusterState] != StateNew || !strings.Contains(cm.Data[KeyInitialClusterToken], "u1") {
		t.Errorf("data = %v", cm.Data)
	}
}

// TestReclaimPolicy: deleting the cluster keeps its volumes unless
// spec.storage.reclaimPolicy is Delete; scaling always keeps them (the
// operator deletes a removed member's volume itself).
func TestReclaimPolicy(t *testing.T) {
	for policy, want := range map[raftv1alpha1.ReclaimPolicy]appsv1.PersistentVolumeClaimRetentionPolicyType{
		"":                         appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		raftv1alpha1.ReclaimRetain: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		raftv1alpha1.ReclaimDelete: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	} {
		rc := cluster()
		rc.Spec.Storage.ReclaimPolicy = policy
		p := StatefulSet(rc, opts, 3).Spec.PersistentVolumeClaimRetentionPolicy
		if p.WhenDeleted != want || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("reclaimPolicy %q: retention %+v, want whenDeleted %s, whenScaled Retain", policy, p, want)
		}
	}
}

func TestStatefulSetTLSModes(t *testing.T) {
	provided := func(rc *raftv1alpha1.RaftCluster) {
		rc.Spec.TLS = raftv1alpha1.TLSSpec{Mode: raftv1alpha1.TLSProvided, Provided: &raftv1alpha1.ProvidedTLS{
			ServerSecretName: "cm-server", PeerSecretName: "cm-peer", OperatorSecretName: "cm-operator"}}
	}
	disabled := func(rc *raftv1alpha1.RaftCluster) { rc.Spec.TLS.Mode = raftv1alpha1.TLSDisabled }
	for _, tt := range []struct {
		name    string
		rc      *raftv1alpha1.RaftCluster
		scheme  string
		secrets []string // server, peer; nil = no TLS volumes
	}{
		{"managed by default", cluster(), "https", []string{"kv-server-tls", "kv-peer-tls"}},
		{"provided", cluster(provided), "https", []string{"cm-server", "cm-peer"}},
		{"disabled", cluster(disabled), "http", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := StatefulSet(tt.rc, opts, 3).Spec.Template.Spec
			args := strings.Join(pod.Containers[0].Args, " ")
			if !strings.Contains(args, "--listen-peer-urls="+tt.scheme+"://") || !strings.Contains(args, "--listen-metrics-urls=http://") {
				t.Errorf("args %s: want %s client and peer URLs and http metrics", args, tt.scheme)
			}
			if got := strings.Contains(args, "--client-cert-auth") && strings.Contains(args, "--peer-client-cert-auth"); got != (tt.secrets != nil) {
				t.Errorf("mutual TLS flags = %v, want %v", got, tt.secrets != nil)
			}
			var secrets []string
			for _, v := range pod.Volumes {
				if v.Secret != nil {
					secrets = append(secrets, v.Secret.SecretName)
					if *v.Secret.DefaultMode != 0o440 {
						t.Errorf("%s mode %o", v.Name, *v.Secret.DefaultMode)
					}
				}
			}
			if !slices.Equal(secrets, tt.secrets) {
				t.Errorf("secret volumes = %v, want %v", secrets, tt.secrets)
			}
			for _, m := range pod.Containers[0].VolumeMounts {
				if m.SubPath != "" {
					t.Errorf("%s uses subPath: a renewed Secret would never reach the pod", m.Name)
				}
			}
			if OperatorSecretName(tt.rc) == "" {
				t.Error("no operator Secret name")
			}
		})
	}
}

// TestDefaultAffinity pins the scheduling default that multi-node clusters
// rely on (the kind e2e scenario "spread"): members prefer distinct nodes
// (hostname topology, matched on this cluster's selector labels only), and a
// user's spec.podTemplate.affinity replaces the default wholesale.
func TestDefaultAffinity(t *testing.T) {
	custom := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}
	for _, tc := range []struct {
		name     string
		mutate   func(*raftv1alpha1.RaftCluster)
		wantUser bool
	}{
		{name: "default spreads over hostnames", mutate: func(*raftv1alpha1.RaftCluster) {}},
		{name: "user affinity replaces the default", wantUser: true,
			mutate: func(rc *raftv1alpha1.RaftCluster) { rc.Spec.PodTemplate.Affinity = custom }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := cluster(tc.mutate)
			got := PodTemplate(rc, opts).Spec.Affinity
			if tc.wantUser {
				if got != custom {
					t.Fatalf("affinity = %+v, want the user's", got)
				}
				return
			}
			anti := got.PodAntiAffinity
			if anti == nil || len(anti.RequiredDuringSchedulingIgnoredDuringExecution) != 0 ||
				len(anti.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
				t.Fatalf("pod anti-affinity = %+v, want exactly one preferred term", anti)
			}
			term := anti.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
			if term.TopologyKey != corev1.LabelHostname {
				t.Errorf("topologyKey = %q, want %q", term.TopologyKey, corev1.LabelHostname)
			}
			sel, want := term.LabelSelector.MatchLabels, SelectorLabels(rc)
			if len(sel) != len(want) {
				t.Errorf("selector = %v, want %v", sel, want)
			}
			for k, v := range want {
				if sel[k] != v {
					t.Errorf("selector = %v, want %v", sel, want)
				}
			}
		})
	}
}

// TestRecoveryTemplate: a recorded recovery Apply puts the force flags on
// every member's template, naming the survivor, with a writable /tmp (the
// root file system is read-only and the forced restart rebuilds its store
// in a temporary directory); without one, or once cancelled, the template
// is the plain one.
func TestRecoveryTemplate(t *testing.T) {
	plain := PodTemplate(cluster(), opts)
	withApply := func(step string) func(*raftv1alpha1.RaftCluster) {
		return func(rc *raftv1alpha1.RaftCluster) {
			rc.Status.Recovery = &raftv1alpha1.RecoveryStatus{Apply: &raftv1alpha1.RecoveryApplyStatus{PlanID: "p1", Survivor: "kv-0", Step: step}}
		}
	}
	forced := PodTemplate(cluster(withApply("DeleteVolume(kv-1)")), opts)
	c := forced.Spec.Containers[0]
	for _, want := range []string{"--force-new-cluster", "--force-new-cluster-id=p1", "--force-new-cluster-member=kv-0"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("forced template lacks %s: %v", want, c.Args)
		}
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" && !m.ReadOnly }) ||
		!slices.ContainsFunc(forced.Spec.Volumes, func(v corev1.Volume) bool { return v.EmptyDir != nil }) {
		t.Errorf("forced template has no writable /tmp: %v %v", c.VolumeMounts, forced.Spec.Volumes)
	}
	// The writable /tmp is the template's own scratch volume: a second
	// "tmp" volume for the forced restart made the StatefulSet invalid
	// ("must be unique") and the recovery never went on.
	assertUniqueVolumes(t, forced)
	if forced.Annotations[AnnotationTemplateHash] == plain.Annotations[AnnotationTemplateHash] {
		t.Error("the forced template has the plain template's hash: the survivor would not restart")
	}
	cancelled := PodTemplate(cluster(withApply("Cancel")), opts)
	if cancelled.Annotations[AnnotationTemplateHash] != plain.Annotations[AnnotationTemplateHash] {
		t.Errorf("a cancelled Apply changed the template: %v", cancelled.Spec.Containers[0].Args)
	}
}

// TestWritableTmpUnderReadOnlyRoot: the node's root filesystem is
// read-only, and serving Maintenance.Snapshot builds the file's bbolt
// database in a scratch dir under /tmp (node/snapfile): without a
// writable /tmp every backup fails with "read-only file system".
func TestWritableTmpUnderReadOnlyRoot(t *testing.T) {
	for _, mode := range []raftv1alpha1.TLSMode{raftv1alpha1.TLSManaged, raftv1alpha1.TLSDisabled} {
		spec := PodTemplate(cluster(func(rc *raftv1alpha1.RaftCluster) { rc.Spec.TLS.Mode = mode }), opts).Spec
		c := spec.Containers[0]
		if !*c.SecurityContext.ReadOnlyRootFilesystem {
			continue
		}
		if !slices.Contains(c.VolumeMounts, ScratchMount) || !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
			return v.Name == ScratchMount.Name && v.EmptyDir != nil
		}) {
			t.Errorf("TLS %s: no emptyDir at /tmp: mounts %+v", mode, c.VolumeMounts)
		}
	}
}

// TestRestoreArgs: a restored cluster's pods all carry --restore-from and
// name the seeded member; other clusters carry neither.
func TestRestoreArgs(t *testing.T) {
	plain := strings.Join(Args(cluster(), opts), " ")
	restored := strings.Join(Args(cluster(func(rc *raftv1alpha1.RaftCluster) {
		rc.Spec.Bootstrap = &raftv1alpha1.BootstrapSpec{Restore: &raftv1alpha1.RestoreSource{Backup: "b1"}}
	}), opts), " ")
	if strings.Contains(plain, "--restore") {
		t.Errorf("a new empty cluster restores: %s", plain)
	}
	if !strings.Contains(restored, "--restore-from="+RestoreFile) || !strings.Contains(restored, "--restore-member=kv-0") {
		t.Errorf("restored cluster args: %s", restored)
	}
}

// assertUniqueVolumes fails when a pod template repeats a volume name or a
// container mount path (the API server refuses such a template).
func assertUniqueVolumes(t *testing.T, tpl corev1.PodTemplateSpec) {
	t.Helper()
	names := map[string]bool{}
	for _, v := range tpl.Spec.Volumes {
		if names[v.Name] {
			t.Errorf("volume %q appears twice", v.Name)
		}
		names[v.Name] = true
	}
	for _, c := range tpl.Spec.Containers {
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if paths[m.MountPath] {
				t.Errorf("container %s mounts %s twice", c.Name, m.MountPath)
			}
			paths[m.MountPath] = true
		}
	}
}
