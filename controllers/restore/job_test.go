package restore

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

func newCluster() *raftv1alpha1.RaftCluster {
	rc := &raftv1alpha1.RaftCluster{}
	rc.Name, rc.Namespace, rc.Spec.Version = "kv", "ns", "v1"
	rc.Spec.Storage.Size = resource.MustParse("1Gi")
	return rc
}

func TestFetchJobS3(t *testing.T) {
	src := Source{Key: "p/kv/b.db", SHA256: sum, Destination: raftv1alpha1.BackupDestination{S3: &raftv1alpha1.S3Destination{
		Endpoint: "http://s3:9000", Bucket: "b", Region: "us-east-1", CredentialsSecret: "creds",
		CABundle: &raftv1alpha1.SecretKeyRef{Name: "ca", Key: "bundle.pem"}}}}
	job := FetchJob(newCluster(), src)
	c := job.Spec.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"backup fetch", "--key p/kv/b.db", "--out " + specs.RestoreFile, "--sha256 " + sum,
		"--s3-endpoint http://s3:9000", "--s3-bucket b", "--s3-ca-file /s3-ca/ca.crt"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if strings.Contains(args, "creds") || len(c.Env) != 2 || c.Env[0].ValueFrom.SecretKeyRef.Name != "creds" {
		t.Errorf("credentials must come from the Secret as env, not args: %v %v", args, c.Env)
	}
	if sc := job.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != specs.NodeUID {
		t.Errorf("the Job must run as the node's user (restricted Pod Security, files the member can read): %+v", sc)
	}
	if job.Name != "kv-restore" || *job.Spec.BackoffLimit != 0 || c.Image != newCluster().DesiredImage() {
		t.Errorf("job %s backoff %d image %s", job.Name, *job.Spec.BackoffLimit, c.Image)
	}
	if !slices.Contains(c.VolumeMounts, specs.ScratchMount) {
		t.Errorf("no writable /tmp under a read-only root filesystem (snapfile checks the file there): %+v", c.VolumeMounts)
	}
	if !slices.ContainsFunc(job.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "data-kv-0"
	}) {
		t.Errorf("the first member's claim is not mounted: %+v", job.Spec.Template.Spec.Volumes)
	}
}

func TestFetchJobPVC(t *testing.T) {
	src := Source{Key: "p/kv/b.db", Destination: raftv1alpha1.BackupDestination{PVC: &raftv1alpha1.PVCDestination{ClaimName: "backups"}}}
	job := FetchJob(newCluster(), src)
	args := strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--dir /backup") || strings.Contains(args, "--sha256") || strings.Contains(args, "--s3") {
		t.Errorf("args %q", args)
	}
	vols := job.Spec.Template.Spec.Volumes
	if len(vols) != 3 || vols[2].PersistentVolumeClaim.ClaimName != "backups" || !vols[2].PersistentVolumeClaim.ReadOnly {
		t.Errorf("the source claim must be mounted read-only: %+v", vols)
	}
}
