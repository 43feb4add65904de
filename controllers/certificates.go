package controllers

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	raftv1alpha1 "github.com/kuberaft/kuberaft/api/v1alpha1"
	"github.com/kuberaft/kuberaft/controllers/certs"
	"github.com/kuberaft/kuberaft/controllers/nodeclient"
	"github.com/kuberaft/kuberaft/controllers/specs"
)

// leaf is one managed leaf Secret.
type leaf struct {
	secret string
	spec   certs.LeafSpec
}

// ensureCertificates runs first in every loop: the operator must hold its
// client identity before it dials any member. Secrets are read live and
// not watched (a watch would cache every Secret of the cluster); the
// periodic resync re-checks them, which is far more often than any
// renewal or rotation step needs. Managed: step the CA, issue
// or renew every leaf, publish the Secrets. Provided: validate the
// Secrets. Both: load the operator's identity into the NodeClient's store
// and note each Secret's expiry for the status.
func (r *RaftClusterReconciler) ensureCertificates(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	key := specs.PeerServiceName(s.rc)
	switch s.rc.TLSMode() {
	case raftv1alpha1.TLSDisabled:
		r.TLS.Delete(s.rc.Namespace, key)
		return reconcile.Result{}, nil
	case raftv1alpha1.TLSProvided:
		return reconcile.Result{}, r.checkProvided(ctx, s)
	}
	return r.ensureManaged(ctx, s)
}

func (r *RaftClusterReconciler) certPolicy() certs.Policy {
	if r.CertPolicy.CAValidity == 0 {
		return certs.DefaultPolicy
	}
	return r.CertPolicy
}

func (r *RaftClusterReconciler) ensureManaged(ctx context.Context, s *reconcileState) (reconcile.Result, error) {
	p, now := r.certPolicy(), r.now()
	ca, err := r.ensureCA(ctx, s, p, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	if ca.Current == nil {
		return reconcile.Result{}, nil // paused before the CA existed
	}
	s.caRotating = ca.Rotating()
	bundle := ca.Bundle()
	for _, l := range managedLeaves(s.rc, r.Specs.ClusterDomain) {
		kp, err := r.ensureLeaf(ctx, s, p, ca, l, now)
		if err != nil {
			return reconcile.Result{}, err
		}
		if l.secret == specs.OperatorTLSSecretName(s.rc) {
			if err := r.loadOperatorIdentity(s, kp, bundle); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	return reconcile.Result{}, nil
}

func managedLeaves(rc *raftv1alpha1.RaftCluster, domain string) []leaf {
	n := certs.ClusterNames{Name: rc.Name, Namespace: rc.Namespace, PeerService: specs.PeerServiceName(rc),
		ClientServices: []string{specs.ClientServiceName(rc), specs.LeaderServiceName(rc)}, Domain: domain}
	return []leaf{
		{specs.ServerTLSSecretName(rc), certs.ServerSpec(n)},
		{specs.PeerTLSSecretName(rc), certs.PeerSpec(n)},
		{specs.ClientTLSSecretName(rc), certs.ClientSpec(n)},
		{specs.OperatorTLSSecretName(rc), certs.OperatorSpec()},
	}
}

// ensureCA reads the CA Secret, steps the rotation and writes it back
// when something changed.
func (r *RaftClusterReconciler) ensureCA(ctx context.Context, s *reconcileState, p certs.Policy, now time.Time) (certs.CAState, error) {
	name := specs.CASecretName(s.rc)
	sec, err := r.getSecret(ctx, s.rc.Namespace, name)
	if err != nil {
		return certs.CAState{}, err
	}
	var ca certs.CAState
	if sec != nil {
		if ca, err = certs.DecodeCA(sec.Data, sec.Annotations); err != nil {
			s.certs = append(s.certs, raftv1alpha1.CertificateStatus{SecretName: name, Error: err.Error()})
			return ca, reconcile.TerminalError(fmt.Errorf("secret %s: %w; delete it to start a new CA (every certificate is then re-issued)", name, err))
		}
	}
	next, did, err := certs.StepCA(p, ca, s.rc.Name+"-ca", s.rc.Annotations[raftv1alpha1.AnnotationRotateCA], now)
	if err != nil {
		return ca, err
	}
	if did != "" && !s.rc.Spec.Paused {
		log.FromContext(ctx).Info("Rotating the CA", "secret", name, "step", did)
		data, ann, err := certs.EncodeCA(next)
		if err != nil {
			return ca, err
		}
		if err := r.writeSecret(ctx, s, name, corev1.SecretTypeOpaque, data, ann); err != nil {
			return ca, err
		}
		r.event(s, corev1.EventTypeNormal, "CertificateAuthority", "Secret %s: %s", name, did)
		ca = next
	}
	if ca.Current != nil {
		s.certs = append(s.certs, raftv1alpha1.CertificateStatus{SecretName: name, NotAfter: metav1.NewTime(ca.Current.Cert.NotAfter)})
	}
	return ca, nil
}

// ensureLeaf keeps one leaf Secret signed by the current CA, renewed in
// time, and carrying the current trust bundle.
func (r *RaftClusterReconciler) ensureLeaf(ctx context.Context, s *reconcileState, p certs.Policy, ca certs.CAState, l leaf, now time.Time) (*certs.KeyPair, error) {
	sec, err := r.getSecret(ctx, s.rc.Namespace, l.secret)
	if err != nil {
		return nil, err
	}
	bundlePEM := certs.EncodeCert(ca.Bundle()...)
	var kp *certs.KeyPair
	why := "missing"
	if sec != nil {
		if kp, err = certs.ParseKeyPair(sec.Data[certs.KeyCert], sec.Data[certs.KeyKey]); err != nil {
			why = err.Error()
		} else if need, reason := certs.LeafNeedsRenewal(p, kp.Cert, ca.Current.Cert, l.spec, now); need {
			kp, why = nil, reason
		}
	}
	if kp != nil && bytes.Equal(sec.Data[certs.KeyCA], bundlePEM) {
		s.certs = append(s.certs, raftv1alpha1.CertificateStatus{SecretName: l.secret, NotAfter: metav1.NewTime(kp.Cert.NotAfter)})
		return kp, nil
	}
	if s.rc.Spec.Paused {
		return nil, fmt.Errorf("secret %s needs an update (%s) but the cluster is paused", l.secret, why)
	}
	if kp == nil {
		log.FromContext(ctx).Info("Issuing a certificate", "secret", l.secret, "reason", why)
		if kp, err = certs.Issue(p, ca.Current, l.spec, now); err != nil {
			return nil, err
		}
		r.event(s, corev1.EventTypeNormal, "CertificateIssued", "Secret %s: issued a certificate (%s)", l.secret, why)
	}
	data, err := certs.EncodeLeaf(kp, ca.Bundle())
	if err != nil {
		return nil, err
	}
	if err := r.writeSecret(ctx, s, l.secret, corev1.SecretTypeTLS, data, nil); err != nil {
		return nil, err
	}
	s.certs = append(s.certs, raftv1alpha1.CertificateStatus{SecretName: l.secret, NotAfter: metav1.NewTime(kp.Cert.NotAfter)})
	return kp, nil
}

// checkProvided validates the user's Secrets; an invalid one is a
// misconfiguration the status names.
func (r *RaftClusterReconciler) checkProvided(ctx context.Context, s *reconcileState) error {
	now := r.now()
	var opData map[string][]byte
	for _, c := range []struct {
		name  string
		usage certs.Usage
	}{
		{specs.ServerTLSSecretName(s.rc), certs.Server},
		{specs.PeerTLSSecretName(s.rc), certs.Peer},
		{specs.OperatorSecretName(s.rc), certs.Client},
	} {
		sec, err := r.getSecret(ctx, s.rc.Namespace, c.name)
		if err != nil {
			return err
		}
		st := raftv1alpha1.CertificateStatus{SecretName: c.name}
		switch {
		case sec == nil:
			st.Error = "not found"
		default:
			leafCert, err := certs.CheckLeaf(sec.Data, c.usage, now)
			if leafCert != nil {
				st.NotAfter = metav1.NewTime(leafCert.NotAfter)
			}
			if err != nil {
				st.Error = err.Error()
			} else if c.usage == certs.Client && leafCert.Subject.CommonName != certs.OperatorCommonName {
				st.Error = fmt.Sprintf("common name %q, want %q (the only identity the nodes let change membership)", leafCert.Subject.CommonName, certs.OperatorCommonName)
			}
			if c.usage == certs.Client {
				opData = sec.Data
			}
		}
		s.certs = append(s.certs, st)
	}
	for _, st := range s.certs {
		if st.Error != "" {
			return reconcile.TerminalError(fmt.Errorf("TLS secret %s: %s", st.SecretName, st.Error))
		}
	}
	return r.TLS.Set(s.rc.Namespace, specs.PeerServiceName(s.rc), nodeclient.Identity{
		CertPEM: opData[certs.KeyCert], KeyPEM: opData[certs.KeyKey], CABundlePEM: opData[certs.KeyCA]})
}

func (r *RaftClusterReconciler) loadOperatorIdentity(s *reconcileState, kp *certs.KeyPair, bundle []*x509.Certificate) error {
	key, err := certs.EncodeKey(kp.Key)
	if err != nil {
		return err
	}
	return r.TLS.Set(s.rc.Namespace, specs.PeerServiceName(s.rc), nodeclient.Identity{
		CertPEM: certs.EncodeCert(kp.Cert), KeyPEM: key, CABundlePEM: certs.EncodeCert(bundle...)})
}

// getSecret reads a Secret live (SecretReader, not the cache: the operator
// does not watch Secrets); nil when it does not exist.
func (r *RaftClusterReconciler) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	reader := r.SecretReader
	if reader == nil {
		reader = r.Client
	}
	sec := &corev1.Secret{}
	err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", name, err)
	}
	return sec, nil
}

// writeSecret creates or replaces a managed Secret, owned by the cluster
// (deleting the cluster deletes its PKI). The update carries the
// resourceVersion just read, so a concurrent writer makes it conflict
// (the loop requeues) instead of being overwritten.
func (r *RaftClusterReconciler) writeSecret(ctx context.Context, s *reconcileState, name string, typ corev1.SecretType, data map[string][]byte, ann map[string]string) error {
	sec, err := r.getSecret(ctx, s.rc.Namespace, name)
	if err != nil {
		return err
	}
	create := sec == nil
	if create {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.rc.Namespace}, Type: typ}
	}
	sec.Labels, sec.Annotations, sec.Data = specs.CommonLabels(s.rc), ann, data
	if err := controllerutil.SetControllerReference(s.rc, sec, r.Scheme); err != nil {
		return err
	}
	if create {
		err = r.Create(ctx, sec)
	} else {
		err = r.Update(ctx, sec)
	}
	if err != nil {
		return fmt.Errorf("write secret %s: %w", name, err)
	}
	return nil
}
