package backup

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
)

func TestOpenStore(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	secret := func(name string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: data}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		secret("creds", map[string][]byte{SecretAccessKeyID: []byte("k"), SecretSecretAccessKey: []byte("s")}),
		secret("half", map[string][]byte{SecretAccessKeyID: []byte("k")}),
		secret("ca", map[string][]byte{"other": []byte("x")}),
	).Build()
	dest := func(creds string, ca *raftv1alpha1.SecretKeyRef) raftv1alpha1.BackupDestination {
		return raftv1alpha1.BackupDestination{S3: &raftv1alpha1.S3Destination{
			Endpoint: "http://s3:9000", Bucket: "bkt", Prefix: "p", CredentialsSecret: creds, CABundle: ca}}
	}
	for _, tc := range []struct {
		name    string
		d       raftv1alpha1.BackupDestination
		wantErr string
	}{
		{"good", dest("creds", nil), ""},
		{"missing secret", dest("nope", nil), `secret ns/nope`},
		{"missing key", dest("half", nil), "keys accessKeyID and secretAccessKey are required"},
		{"missing CA key", dest("creds", &raftv1alpha1.SecretKeyRef{Name: "ca", Key: "ca.crt"}), "has no key ca.crt"},
		{"pvc is not an s3 store", raftv1alpha1.BackupDestination{PVC: &raftv1alpha1.PVCDestination{ClaimName: "c"}}, "not an s3 destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, prefix, err := OpenStore(context.Background(), c, "ns", tc.d)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || prefix != "p" || st.Location("k") != "s3://bkt/k" {
				t.Fatalf("OpenStore = %v, %q, %v", st, prefix, err)
			}
		})
	}
}
