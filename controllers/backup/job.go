package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"path"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// A PVC destination is written by a Job: only a pod can mount the claim.
// The Job runs the node image's `raftnode backup save|delete` (the node
// binary is already on every cluster's image), and save reports the
// snapshot's description as its termination message.
const (
	agentSave   = "save"
	agentDelete = "delete"
	// volumeMount is where the agent mounts the destination claim.
	volumeMount = "/backup"
	// tlsMount holds the operator's client certificate for the cluster
	// (save on a TLS cluster: the members require a client certificate).
	tlsMount = "/tls"
	// jobDeadline bounds one agent Job.
	jobDeadline = int64(15 * 60)
)

// jobOutcome is what a finished (or running) agent Job tells.
type jobOutcome struct {
	done, failed bool
	message      string // the container's termination message
}

// agentJobName is deterministic, so a crash between create and record
// finds the same Job again.
func agentJobName(b *raftv1alpha1.RaftBackup, mode string) string {
	return fmt.Sprintf("%s-%s", b.Name, mode)
}

// agentJob builds the Job that runs `raftnode backup <mode>`. tlsSecret,
// when set, is the operator's client certificate Secret the agent dials
// the member with (the member verifies it as it does the operator's).
func agentJob(b *raftv1alpha1.RaftBackup, image, mode, key, endpoint, tlsSecret string) *batchv1.Job {
	args := []string{"backup", mode, "--dir", volumeMount, "--key", key}
	if mode == agentSave {
		args = append(args, "--endpoint", endpoint)
	}
	mounts := []corev1.VolumeMount{{Name: "destination", MountPath: volumeMount}}
	volumes := []corev1.Volume{{Name: "destination", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.Spec.Destination.PVC.ClaimName}}}}
	if mode == agentSave && tlsSecret != "" {
		args = append(args, "--cert-file", tlsMount+"/tls.crt", "--key-file", tlsMount+"/tls.key", "--trusted-ca-file", tlsMount+"/ca.crt")
		mounts = append(mounts, corev1.VolumeMount{Name: "tls", MountPath: tlsMount, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: tlsSecret}}})
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: agentJobName(b, mode),
			Labels: map[string]string{LabelCluster: b.Spec.Cluster}},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0), // a retry is a new RaftBackup
			ActiveDeadlineSeconds: ptr.To(jobDeadline),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				// The node's user, as the members run (restricted Pod
				// Security; files on the claim owned by its group).
				SecurityContext: specs.PodSecurityContext(),
				Containers: []corev1.Container{{
					Name: "agent", Image: image, Args: args,
					TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					VolumeMounts:             mounts,
					SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false),
						Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					},
				}},
				Volumes: volumes,
			}},
		},
	}
}

// runAgent ensures the agent Job exists and reports its outcome.
func (r *Reconciler) runAgent(ctx context.Context, b *raftv1alpha1.RaftBackup, image, mode, key, endpoint, tlsSecret string) (jobOutcome, error) {
	var job batchv1.Job
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: agentJobName(b, mode)}, &job)
	if apierrors.IsNotFound(err) {
		want := agentJob(b, image, mode, key, endpoint, tlsSecret)
		if err := controllerutil.SetControllerReference(b, want, r.Client.Scheme()); err != nil {
			return jobOutcome{}, err
		}
		if err := r.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return jobOutcome{}, fmt.Errorf("create backup job: %w", err)
		}
		return jobOutcome{}, nil
	}
	if err != nil {
		return jobOutcome{}, err
	}
	out := jobOutcome{done: job.Status.Succeeded > 0, failed: job.Status.Failed > 0 || jobFailed(&job)}
	if out.done || out.failed {
		out.message, err = r.terminationMessage(ctx, &job)
	}
	if out.done && out.message == "" && mode == agentSave {
		// The Job and its pod come through different informers: the Job
		// can be seen Succeeded before the pod's termination message is
		// in the cache. A successful save always writes one; wait for it
		// rather than fail the backup.
		out.done = false
	}
	return out, err
}

func jobFailed(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// terminationMessage reads the agent container's termination message
// from the Job's pod.
func (r *Reconciler) terminationMessage(ctx context.Context, job *batchv1.Job) (string, error) {
	var reader client.Reader = r.Client
	if r.JobPods != nil {
		reader = r.JobPods
	}
	var pods corev1.PodList
	if err := reader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.Message != "" {
				return t.Message, nil
			}
		}
	}
	return "", nil
}

// parseAgentResult decodes save's JSON description of the snapshot.
func parseAgentResult(msg string) (snapfile.Info, error) {
	var info snapfile.Info
	if err := json.Unmarshal([]byte(msg), &info); err != nil || info.SHA256 == "" {
		return snapfile.Info{}, fmt.Errorf("backup job reported no snapshot description (%q)", msg)
	}
	return info, nil
}

// pvcLocation is pvc://claim/key.
func pvcLocation(d raftv1alpha1.BackupDestination, key string) string {
	return "pvc://" + path.Join(d.PVC.ClaimName, key)
}
