package envtest

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers"
	"github.com/kuberaft/kuberaft/controllers/certs"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

func TestTLSSpecValidation(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	provided := map[string]any{"serverSecretName": "s", "peerSecretName": "p", "operatorSecretName": "o"}
	for i, tc := range []struct {
		name string
		tls  map[string]any
		want string
	}{
		{"provided without secrets", map[string]any{"mode": "Provided"}, "tls.provided is required with mode Provided"},
		{"secrets with managed", map[string]any{"mode": "Managed", "provided": provided}, "tls.provided is required with mode Provided and only allowed with it"},
		{"unknown mode", map[string]any{"mode": "Auto"}, "spec.tls.mode: Unsupported value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(ctx, unstructuredCluster(ns, "tls-bad-"+string(rune('a'+i)), with(validSpec(), "tls", tc.tls)))
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	rc := createCluster(t, ctx, ns)
	if rc.Spec.TLS.Mode != raftv1alpha1.TLSManaged {
		t.Fatalf("tls.mode defaulted to %q, want Managed", rc.Spec.TLS.Mode)
	}
	rc.Spec.TLS.Mode = raftv1alpha1.TLSDisabled
	if err := k8s.Update(ctx, rc); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "tls is immutable") {
		t.Fatalf("turning TLS off: err = %v, want tls is immutable", err)
	}
}

func tlsReconciler() (*controllers.RaftClusterReconciler, *nodeclient.TLSStore) {
	store := nodeclient.NewTLSStore()
	return &controllers.RaftClusterReconciler{Client: k8s, Scheme: scheme, Nodes: noNodes{}, TLS: store,
		Recorder: events.NewFakeRecorder(100), Specs: specs.Options{ClusterDomain: "cluster.local"}}, store
}

// TestManagedSecrets: the first loop creates the CA and the four leaf
// Secrets, each valid for its use and owned by the cluster; the operator's
// identity reaches the node client; the status lists every expiry; a
// second loop rewrites nothing.
func TestManagedSecrets(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	rc := createCluster(t, ctx, ns)
	r, store := tlsReconciler()
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rc)}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("first loop: %v", err)
	}
	now := time.Now()
	versions := map[string]string{}
	for _, c := range []struct {
		name  string
		usage certs.Usage
		cn    string
	}{
		{"kv-server-tls", certs.Server, "kv"},
		{"kv-peer-tls", certs.Peer, "kv-peer"},
		{"kv-client-tls", certs.Client, "kv-client"},
		{"kv-operator-tls", certs.Client, certs.OperatorCommonName},
	} {
		sec := getSecret(t, ns, c.name)
		leaf, err := certs.CheckLeaf(sec.Data, c.usage, now)
		if err != nil || leaf.Subject.CommonName != c.cn || sec.Type != corev1.SecretTypeTLS {
			t.Errorf("%s: %v, CN %q, type %s", c.name, err, leaf.Subject.CommonName, sec.Type)
		}
		if len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].UID != rc.UID {
			t.Errorf("%s is not owned by the cluster: %+v", c.name, sec.OwnerReferences)
		}
		versions[c.name] = sec.ResourceVersion
	}
	ca := getSecret(t, ns, "kv-ca")
	versions["kv-ca"] = ca.ResourceVersion
	if _, err := certs.DecodeCA(ca.Data, ca.Annotations); err != nil {
		t.Errorf("kv-ca: %v", err)
	}
	if !store.Has(nodeclient.Endpoint{Namespace: ns, Service: "kv-peer", Pod: "kv-0"}) {
		t.Error("the operator's identity did not reach the node client")
	}
	got := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Certificates) != 5 {
		t.Errorf("status.certificates = %+v, want 5", got.Status.Certificates)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, raftv1alpha1.ConditionCertificatesReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("CertificatesReady = %+v", c)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("second loop: %v", err)
	}
	for name, v := range versions {
		if sec := getSecret(t, ns, name); sec.ResourceVersion != v {
			t.Errorf("%s rewritten by a loop with nothing to do", name)
		}
	}
}

// TestProvidedSecretsValidated: a provided cluster whose Secrets are
// missing or wrong is a terminal misconfiguration named in the status;
// cert-manager-shaped Secrets make it ready.
func TestProvidedSecretsValidated(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	u := unstructuredCluster(ns, "kv", with(validSpec(), "tls", map[string]any{"mode": "Provided",
		"provided": map[string]any{"serverSecretName": "cm-server", "peerSecretName": "cm-peer", "operatorSecretName": "cm-operator"}}))
	if err := k8s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	r, _ := tlsReconciler()
	req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "kv"}}
	if _, err := r.Reconcile(ctx, req); !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("missing Secrets: err = %v, want a terminal error", err)
	}
	wantCondition(t, req, metav1.ConditionFalse, "cm-server: not found")

	p, now := certs.DefaultPolicy, time.Now()
	ca, err := certs.NewCA(p, "cert-manager-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	names := certs.ClusterNames{Name: "kv", Namespace: ns, PeerService: "kv-peer", ClientServices: []string{"kv"}, Domain: "cluster.local"}
	put := func(name string, spec certs.LeafSpec) {
		kp, err := certs.Issue(p, ca, spec, now)
		if err != nil {
			t.Fatal(err)
		}
		data, err := certs.EncodeLeaf(kp, []*x509.Certificate{ca.Cert})
		if err != nil {
			t.Fatal(err)
		}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Type: corev1.SecretTypeTLS, Data: data}
		if err := k8s.Create(ctx, sec); err != nil {
			t.Fatal(err)
		}
	}
	put("cm-server", certs.ServerSpec(names))
	// A client-only peer certificate (no server auth usage) is refused by name.
	put("cm-peer", certs.LeafSpec{CommonName: "kv-peer", Usage: certs.Client, DNSNames: []string{"*.kv-peer." + ns + ".svc"}})
	put("cm-operator", certs.OperatorSpec())
	if _, err := r.Reconcile(ctx, req); !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("client-only peer certificate: err = %v, want a terminal error", err)
	}
	wantCondition(t, req, metav1.ConditionFalse, "cm-peer:")

	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cm-peer", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	put("cm-peer", certs.PeerSpec(names))
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("valid provided Secrets: %v", err)
	}
	wantCondition(t, req, metav1.ConditionTrue, "3 certificates valid")
}

func getSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	sec := &corev1.Secret{}
	if err := k8s.Get(testContext(t), client.ObjectKey{Namespace: ns, Name: name}, sec); err != nil {
		t.Fatalf("secret %s: %v", name, err)
	}
	return sec
}

func wantCondition(t *testing.T, req ctrl.Request, status metav1.ConditionStatus, msg string) {
	t.Helper()
	rc := &raftv1alpha1.RaftCluster{}
	if err := k8s.Get(testContext(t), req.NamespacedName, rc); err != nil {
		t.Fatal(err)
	}
	c := meta.FindStatusCondition(rc.Status.Conditions, raftv1alpha1.ConditionCertificatesReady)
	if c == nil || c.Status != status || !strings.Contains(c.Message, msg) {
		t.Fatalf("CertificatesReady = %+v, want %s with %q", c, status, msg)
	}
}

// TestRotateCARequest: raft.kuberaft.io/rotate-ca on the RaftCluster starts
// a CA rotation at once (the CA is a year from due): both CAs are trusted
// by every leaf Secret, and after the overlap every leaf is re-issued from
// the new CA; the request is recorded on the CA Secret and not served again.
func TestRotateCARequest(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t, ctx)
	rc := createCluster(t, ctx, ns)
	r, _ := tlsReconciler()
	now := time.Now()
	r.Now = func() time.Time { return now }
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rc)}
	loop := func(what string) {
		t.Helper()
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	loop("first loop")
	first := getSecret(t, ns, "kv-ca")
	oldCA, err := certs.DecodeCA(first.Data, first.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(rc.DeepCopy())
	rc.Annotations = map[string]string{raftv1alpha1.AnnotationRotateCA: "r1"}
	if err := k8s.Patch(ctx, rc, patch); err != nil {
		t.Fatal(err)
	}
	loop("request")
	ca := getSecret(t, ns, "kv-ca")
	state, err := certs.DecodeCA(ca.Data, ca.Annotations)
	if err != nil || state.Next == nil || state.Served != "r1" {
		t.Fatalf("after the request: err %v, next CA %v, served %q", err, state.Next != nil, state.Served)
	}
	for _, name := range []string{"kv-server-tls", "kv-peer-tls", "kv-client-tls", "kv-operator-tls"} {
		if bundle, err := certs.ParseCerts(getSecret(t, ns, name).Data[certs.KeyCA]); err != nil || len(bundle) != 2 {
			t.Errorf("%s ca.crt: %d CAs (%v), want old and new", name, len(bundle), err)
		}
	}
	now = now.Add(certs.DefaultPolicy.Overlap)
	loop("after the overlap")
	for _, name := range []string{"kv-server-tls", "kv-peer-tls", "kv-client-tls", "kv-operator-tls"} {
		kp, err := certs.ParseKeyPair(getSecret(t, ns, name).Data[certs.KeyCert], getSecret(t, ns, name).Data[certs.KeyKey])
		if err != nil || kp.Cert.CheckSignatureFrom(state.Next.Cert) != nil || kp.Cert.CheckSignatureFrom(oldCA.Current.Cert) == nil {
			t.Errorf("%s: not re-issued from the new CA (%v)", name, err)
		}
	}
	now = now.Add(certs.DefaultPolicy.Overlap)
	loop("second overlap")
	loop("steady")
	ca = getSecret(t, ns, "kv-ca")
	if state, err = certs.DecodeCA(ca.Data, ca.Annotations); err != nil || state.Rotating() || state.Current.Cert.Equal(oldCA.Current.Cert) {
		t.Fatalf("rotation did not complete: err %v, rotating %v", err, state.Rotating())
	}
}
