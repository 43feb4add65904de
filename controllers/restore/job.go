package restore

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/backup"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// Mount points of the fetch Job.
const (
	// sourceMount is where a PVC source is mounted, read-only.
	sourceMount = "/backup"
	// caMount holds an S3 destination's CA bundle as ca.crt.
	caMount = "/s3-ca"
	// jobDeadline bounds the fetch.
	jobDeadline = int64(15 * 60)
)

// FetchJob builds the Job that places src's file on the first member's
// volume (specs.RestoreFile), verified, with the node image: `raftnode
// backup fetch`. S3 credentials reach it from the destination's Secret as
// environment variables, never as arguments.
func FetchJob(rc *raftv1alpha1.RaftCluster, src Source) *batchv1.Job {
	args := []string{"backup", "fetch", "--key", src.Key, "--out", specs.RestoreFile}
	if src.SHA256 != "" {
		args = append(args, "--sha256", src.SHA256)
	}
	volumes := []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: specs.PVCName(specs.RestoreMember(rc))}}}, specs.ScratchVolume}
	mounts := []corev1.VolumeMount{{Name: "data", MountPath: specs.DataDir}, specs.ScratchMount}
	var env []corev1.EnvVar
	switch d := src.Destination; {
	case d.PVC != nil:
		args = append(args, "--dir", sourceMount)
		volumes = append(volumes, corev1.Volume{Name: "source", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: d.PVC.ClaimName, ReadOnly: true}}})
		mounts = append(mounts, corev1.VolumeMount{Name: "source", MountPath: sourceMount, ReadOnly: true})
	case d.S3 != nil:
		args = append(args, "--s3-endpoint", d.S3.Endpoint, "--s3-bucket", d.S3.Bucket, "--s3-region", d.S3.Region)
		env = []corev1.EnvVar{
			secretEnv("S3_ACCESS_KEY_ID", d.S3.CredentialsSecret, backup.SecretAccessKeyID),
			secretEnv("S3_SECRET_ACCESS_KEY", d.S3.CredentialsSecret, backup.SecretSecretAccessKey),
		}
		if ca := d.S3.CABundle; ca != nil {
			args = append(args, "--s3-ca-file", caMount+"/ca.crt")
			volumes = append(volumes, corev1.Volume{Name: "s3-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: ca.Name, Items: []corev1.KeyToPath{{Key: ca.Key, Path: "ca.crt"}}}}})
			mounts = append(mounts, corev1.VolumeMount{Name: "s3-ca", MountPath: caMount, ReadOnly: true})
		}
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: specs.RestoreJobName(rc), Namespace: rc.Namespace, Labels: specs.CommonLabels(rc)},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0), // a failure is reported; deleting the Job retries
			ActiveDeadlineSeconds: ptr.To(jobDeadline),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                corev1.RestartPolicyNever,
				AutomountServiceAccountToken: ptr.To(false),
				// The node's user: the file it places is the seeded
				// member's to read, and restricted namespaces admit it.
				SecurityContext: specs.PodSecurityContext(),
				NodeSelector:    rc.Spec.PodTemplate.NodeSelector,
				Tolerations:     rc.Spec.PodTemplate.Tolerations,
				Containers: []corev1.Container{{
					Name: "fetch", Image: rc.DesiredImage(), ImagePullPolicy: corev1.PullIfNotPresent, Args: args, Env: env,
					TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					VolumeMounts:             mounts,
					SecurityContext: &corev1.SecurityContext{
						AllowPrivilegeEscalation: ptr.To(false),
						Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						ReadOnlyRootFilesystem:   ptr.To(true),
						SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
				}},
				Volumes: volumes,
			}},
		},
	}
}

func secretEnv(name, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}}
}
