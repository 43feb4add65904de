package specs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/recovery/planner"
)

// StatefulSet builds the members' StatefulSet with the given replica count
// (decided by the membership, not by spec.replicas). updateStrategy is
// OnDelete: the operator, not the StatefulSet controller, decides which pod
// restarts when, so the leader goes last.
func StatefulSet(rc *raftv1alpha1.RaftCluster, opts Options, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: StatefulSetName(rc), Namespace: rc.Namespace, Labels: CommonLabels(rc)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         PeerServiceName(rc),
			Selector:            &metav1.LabelSelector{MatchLabels: SelectorLabels(rc)},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			// Deleting the cluster keeps or deletes its volumes as
			// spec.storage.reclaimPolicy says; scaling keeps them until the
			// operator has removed the member (cleanupVolumes).
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: whenDeleted(rc),
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: PodTemplate(rc, opts),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: DataVolume, Labels: volumeLabels(rc)},
				Spec:       claimSpec(rc),
			}},
		},
	}
}

// ScratchVolume and ScratchMount give a container with a read-only root
// filesystem a writable /tmp: a snapshot file's bbolt database is built
// and checked in a scratch copy there (node/snapfile), by the node serving
// Maintenance.Snapshot and by `raftnode backup fetch`.
var (
	ScratchVolume = corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	ScratchMount  = corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}
)

// MemberClaim is the data PVC of member pod exactly as the StatefulSet's
// claim template would create it, so the StatefulSet adopts it: a restore
// creates the first member's volume early to put the snapshot on it.
func MemberClaim(rc *raftv1alpha1.RaftCluster, pod string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: PVCName(pod), Namespace: rc.Namespace, Labels: volumeLabels(rc)},
		Spec:       claimSpec(rc),
	}
}

func claimSpec(rc *raftv1alpha1.RaftCluster) corev1.PersistentVolumeClaimSpec {
	return corev1.PersistentVolumeClaimSpec{
		AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		StorageClassName: rc.Spec.Storage.StorageClassName,
		Resources: corev1.VolumeResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceStorage: rc.Spec.Storage.Size},
		},
	}
}

func volumeLabels(rc *raftv1alpha1.RaftCluster) map[string]string {
	l := CommonLabels(rc)
	l[LabelClusterUID] = string(rc.UID)
	return l
}

// PodTemplate builds the member pod template, annotated with its own hash.
func PodTemplate(rc *raftv1alpha1.RaftCluster, opts Options) corev1.PodTemplateSpec {
	o := rc.Spec.PodTemplate
	labels := maps.Clone(o.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, CommonLabels(rc))
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: maps.Clone(o.Annotations)},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{container(rc, opts)},
			Volumes:                       append([]corev1.Volume{ScratchVolume}, tlsVolumes(rc)...),
			Affinity:                      affinity(rc),
			Tolerations:                   o.Tolerations,
			NodeSelector:                  o.NodeSelector,
			TopologySpreadConstraints:     o.TopologySpreadConstraints,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			EnableServiceLinks:            ptr.To(false),
			// The node never calls the Kubernetes API.
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              PodSecurityContext(),
		},
	}
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[AnnotationTemplateHash] = TemplateHash(t)
	return t
}

// TemplateHash hashes a pod template (without its own hash annotation).
func TemplateHash(t corev1.PodTemplateSpec) string {
	c := t.DeepCopy()
	delete(c.Annotations, AnnotationTemplateHash)
	b, err := json.Marshal(c)
	if err != nil {
		// A PodTemplateSpec always marshals; fall back to a hash of its
		// printed form rather than failing the loop.
		b = fmt.Appendf(nil, "%#v", c)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

func container(rc *raftv1alpha1.RaftCluster, opts Options) corev1.Container {
	return corev1.Container{
		Name:            ContainerName,
		Image:           rc.DesiredImage(),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            Args(rc, opts),
		Env:             env(rc),
		Ports: []corev1.ContainerPort{
			{Name: "client", ContainerPort: ClientPort, Protocol: corev1.ProtocolTCP},
			{Name: "peer", ContainerPort: PeerPort, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		Resources:    rc.Spec.Resources,
		VolumeMounts: volumeMounts(rc),
		// Startup allows a long WAL replay; liveness then only restarts a
		// wedged process; readiness reflects /readyz (which also reports
		// fencing), while the peer Service publishes not-ready pods so that
		// peers can always resolve each other.
		StartupProbe:   probe("/livez", 40),
		LivenessProbe:  probe("/livez", 3),
		ReadinessProbe: probe("/readyz", 1),
		// The restricted Pod Security profile; the pod-level part (user,
		// group, fsGroup, seccomp) is in PodSecurityContext.
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			ReadOnlyRootFilesystem:   ptr.To(true),
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// NodeUID is the node's user and group: distroless's "nonroot" (65532),
// numeric so that the kubelet can check runAsNonRoot against it.
const NodeUID int64 = 65532

// PodSecurityContext runs the node as NodeUID (and the Jobs that write
// a member's or a backup's files with the node image). fsGroup makes the data
// volume and the TLS Secret volumes (mode 0440) the node's group's; where
// a volume plugin ignores fsGroup (hostPath-based provisioners), the
// provisioner must create world-writable directories, as
// local-path-provisioner and the offline test cluster's do.
// OnRootMismatch: the recursive chown runs only when the volume's root
// is not already the group's (a member's volume after the change from
// root to NodeUID), not at every start.
func PodSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:        ptr.To(true),
		RunAsUser:           ptr.To(NodeUID),
		RunAsGroup:          ptr.To(NodeUID),
		FSGroup:             ptr.To(NodeUID),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func probe(path string, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("metrics")}},
		// The node bounds each check by 2s and asks for a 3s timeout.
		PeriodSeconds:    3,
		TimeoutSeconds:   3,
		FailureThreshold: failures,
	}
}

// Args are the node's command-line flags (etcd's names). Pod-specific and
// bootstrap values come from environment variables expanded by the kubelet.
func Args(rc *raftv1alpha1.RaftCluster, opts Options) []string {
	host := fmt.Sprintf("$(POD_NAME).%s.$(POD_NAMESPACE).svc.%s", PeerServiceName(rc), opts.ClusterDomain)
	r := rc.Spec.Raft
	scheme := Scheme(rc)
	args := []string{
		"--name=$(POD_NAME)",
		"--data-dir=" + DataDir + "/data",
		fmt.Sprintf("--listen-client-urls=%s://0.0.0.0:%d", scheme, ClientPort),
		fmt.Sprintf("--advertise-client-urls=%s://%s:%d", scheme, host, ClientPort),
		fmt.Sprintf("--listen-peer-urls=%s://0.0.0.0:%d", scheme, PeerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=%s://%s:%d", scheme, host, PeerPort),
		fmt.Sprintf("--listen-metrics-urls=http://0.0.0.0:%d", MetricsPort),
		"--initial-cluster=$(" + KeyInitialCluster + ")",
		"--initial-cluster-state=$(" + KeyInitialClusterState + ")",
		"--initial-cluster-token=$(" + KeyInitialClusterToken + ")",
	}
	if r.HeartbeatInterval > 0 {
		args = append(args, fmt.Sprintf("--heartbeat-interval=%d", r.HeartbeatInterval))
	}
	if r.ElectionTimeout > 0 {
		args = append(args, fmt.Sprintf("--election-timeout=%d", r.ElectionTimeout))
	}
	if r.SnapshotCount > 0 {
		args = append(args, fmt.Sprintf("--snapshot-count=%d", r.SnapshotCount))
	}
	args = append(args, forceArgs(rc)...)
	if rc.RestoreSource() != nil {
		// Every pod carries the flags; only the first member (whose volume
		// the restore Job put the file on) acts on them, and only while
		// its data dir is empty: a restart finds the data seeded from the
		// same file and starts normally.
		args = append(args, "--restore-from="+RestoreFile, "--restore-member="+RestoreMember(rc))
	}
	return append(args, tlsArgs(rc)...)
}

// forceArgs are the flags of a recorded quorum-loss recovery (Apply):
// every member's pod carries them (an Apply cancelled before anything
// was deleted never forced, so it has none), and the node forces only
// as the named survivor with data, once per plan ID (see raftnode's
// --force-new-cluster-member). They stay after the recovery: a restart
// with the same ID is a normal restart, and dropping them would restart
// every member for a template change.
func forceArgs(rc *raftv1alpha1.RaftCluster) []string {
	if rc.Status.Recovery == nil || rc.Status.Recovery.Apply == nil || rc.Status.Recovery.Apply.Step == string(planner.Cancel) {
		return nil
	}
	a := rc.Status.Recovery.Apply
	return []string{"--force-new-cluster", "--force-new-cluster-id=" + a.PlanID, "--force-new-cluster-member=" + a.Survivor}
}
func env(rc *raftv1alpha1.RaftCluster) []corev1.EnvVar {
	fromCM := func(key string) corev1.EnvVar {
		return corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: BootstrapConfigMapName(rc)}, Key: key}}}
	}
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		fromCM(KeyInitialCluster), fromCM(KeyInitialClusterState), fromCM(KeyInitialClusterToken),
	}
}

// affinity is the user's, or by default a preference for one member per
// node, so that losing a node costs at most one vote.
func affinity(rc *raftv1alpha1.RaftCluster) *corev1.Affinity {
	if rc.Spec.PodTemplate.Affinity != nil {
		return rc.Spec.PodTemplate.Affinity
	}
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(rc)},
			},
		}},
	}}
}

// InitialCluster renders name=peerURL pairs as etcd's --initial-cluster.
func InitialCluster(rc *raftv1alpha1.RaftCluster, opts Options, names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + PeerURL(rc, opts, n)
	}
	return strings.Join(parts, ",")
}

// whenDeleted maps spec.storage.reclaimPolicy onto the StatefulSet's
// retention policy: with Delete the StatefulSet controller makes the
// StatefulSet own each PVC, and the garbage collector deletes them with it.
func whenDeleted(rc *raftv1alpha1.RaftCluster) appsv1.PersistentVolumeClaimRetentionPolicyType {
	if rc.VolumeReclaimPolicy() == raftv1alpha1.ReclaimDelete {
		return appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	return appsv1.RetainPersistentVolumeClaimRetentionPolicyType
}
