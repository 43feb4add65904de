package certs

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testPolicy: a 30-day CA, 9-day leaves, 1-hour overlap.
var testPolicy = Policy{CAValidity: 30 * 24 * time.Hour, LeafValidity: 9 * 24 * time.Hour, RenewFraction: 2.0 / 3.0, Overlap: time.Hour, Backdate: 5 * time.Minute}

func names() ClusterNames {
	return ClusterNames{Name: "demo", Namespace: "ns", PeerService: "demo-peer", ClientServices: []string{"demo", "demo-leader"}, Domain: "cluster.local"}
}

func mustStep(t *testing.T, s CAState, now time.Time) (CAState, string) {
	t.Helper()
	next, what, err := StepCA(testPolicy, s, "demo-ca", "", now)
	if err != nil {
		t.Fatal(err)
	}
	return next, what
}

func TestStepCA(t *testing.T) {
	s, what := mustStep(t, CAState{}, t0)
	if s.Current == nil || what != "created the CA" {
		t.Fatalf("bootstrap: %q", what)
	}
	renew := RenewAt(testPolicy, s.Current.Cert)
	for _, tt := range []struct {
		name string
		at   time.Time
		want string // substring of what StepCA did; "" = nothing
		next func(CAState) bool
	}{
		{"steady, early", t0.Add(time.Hour), "", func(n CAState) bool { return !n.Rotating() }},
		{"renewal due: introduce", renew, "introduced a new CA", func(n CAState) bool { return n.Next != nil && len(n.Bundle()) == 2 }},
		{"inside the overlap: wait", renew.Add(testPolicy.Overlap - time.Second), "", func(n CAState) bool { return n.Next != nil }},
		{"overlap over: swap", renew.Add(testPolicy.Overlap), "signs from now on", func(n CAState) bool { return n.Next == nil && len(n.Retired) == 1 && len(n.Bundle()) == 2 }},
		{"retiring, inside the overlap", renew.Add(2*testPolicy.Overlap - time.Second), "", func(n CAState) bool { return len(n.Retired) == 1 }},
		{"retiring over: drop", renew.Add(2 * testPolicy.Overlap), "dropped the retired CA", func(n CAState) bool { return !n.Rotating() && len(n.Bundle()) == 1 }},
	} {
		n, what := mustStep(t, s, tt.at)
		if (tt.want == "") != (what == "") || !strings.Contains(what, tt.want) || !tt.next(n) {
			t.Fatalf("%s: did %q (want %q); state next=%v retired=%d", tt.name, what, tt.want, n.Next != nil, len(n.Retired))
		}
		s = n
	}
}

// TestRotationKeepsTrust walks a whole CA rotation the way the
// controller does (step the CA, then re-issue any leaf that needs it) and
// checks at every step that each leaf a member may still hold from the
// previous step verifies against the bundle of the new step, and the new
// leaves against the previous bundle: old and new members always trust
// each other.
func TestRotationKeepsTrust(t *testing.T) {
	s, _ := mustStep(t, CAState{}, t0)
	spec := PeerSpec(names())
	renew := RenewAt(testPolicy, s.Current.Cert)
	// The leaf as routinely renewed shortly before the CA rotation.
	leaf, err := Issue(testPolicy, s.Current, spec, renew.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for now := renew.Add(-time.Hour); now.Before(renew.Add(3 * testPolicy.Overlap)); now = now.Add(15 * time.Minute) {
		prevBundle, prevLeaf := s.Bundle(), leaf
		s, _ = mustStep(t, s, now)
		if need, _ := LeafNeedsRenewal(testPolicy, leaf.Cert, s.Current.Cert, spec, now); need {
			if leaf, err = Issue(testPolicy, s.Current, spec, now); err != nil {
				t.Fatal(err)
			}
			steps++
		}
		if err := verify(prevLeaf.Cert, s.Bundle(), now); err != nil {
			t.Fatalf("%v: a leaf of the previous step is not trusted by the new bundle: %v", now, err)
		}
		if err := verify(leaf.Cert, prevBundle, now); err != nil {
			t.Fatalf("%v: the new leaf is not trusted by the previous bundle: %v", now, err)
		}
	}
	if steps == 0 || s.Rotating() || leaf.Cert.CheckSignatureFrom(s.Current.Cert) != nil {
		t.Fatalf("rotation did not complete: re-issues=%d rotating=%v", steps, s.Rotating())
	}
}

func verify(c *x509.Certificate, bundle []*x509.Certificate, now time.Time) error {
	pool := x509.NewCertPool()
	for _, ca := range bundle {
		pool.AddCert(ca)
	}
	_, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

func TestLeafNeedsRenewal(t *testing.T) {
	ca, err := NewCA(testPolicy, "ca", t0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA(testPolicy, "other", t0)
	if err != nil {
		t.Fatal(err)
	}
	spec := ServerSpec(names())
	leaf, err := Issue(testPolicy, ca, spec, t0)
	if err != nil {
		t.Fatal(err)
	}
	moved := names()
	moved.Domain = "example.org"
	for _, tt := range []struct {
		name string
		ca   *KeyPair
		spec LeafSpec
		at   time.Time
		want string
	}{
		{"fresh", ca, spec, t0.Add(time.Hour), ""},
		{"two thirds of its life", ca, spec, RenewAt(testPolicy, leaf.Cert), "due for renewal"},
		{"another CA", other, spec, t0.Add(time.Hour), "not signed by the current CA"},
		{"names changed", ca, ServerSpec(moved), t0.Add(time.Hour), "names changed"},
		{"usage changed", ca, LeafSpec{CommonName: spec.CommonName, Usage: Client, DNSNames: spec.DNSNames, IPs: spec.IPs}, t0.Add(time.Hour), "usages changed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			need, why := LeafNeedsRenewal(testPolicy, leaf.Cert, tt.ca.Cert, tt.spec, tt.at)
			if need != (tt.want != "") || !strings.Contains(why, tt.want) {
				t.Fatalf("= %v %q, want %q", need, why, tt.want)
			}
		})
	}
}

func TestLeafNeverOutlivesItsCA(t *testing.T) {
	ca, err := NewCA(testPolicy, "ca", t0)
	if err != nil {
		t.Fatal(err)
	}
	late := ca.Cert.NotAfter.Add(-24 * time.Hour)
	leaf, err := Issue(testPolicy, ca, ClientSpec(names()), late)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Fatalf("leaf expires %v after its CA %v", leaf.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestSecretsRoundTripAndCheck(t *testing.T) {
	s, _ := mustStep(t, CAState{}, t0)
	s, _ = mustStep(t, s, RenewAt(testPolicy, s.Current.Cert)) // rotating: Next set
	data, ann, err := EncodeCA(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCA(data, ann)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Current.Cert.Equal(s.Current.Cert) || got.Next == nil || !got.Next.Cert.Equal(s.Next.Cert) || !got.Since.Equal(s.Since) {
		t.Fatal("CA state did not round-trip")
	}
	leaf, err := Issue(testPolicy, s.Current, ServerSpec(names()), t0)
	if err != nil {
		t.Fatal(err)
	}
	good, err := EncodeLeaf(leaf, s.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := NewCA(testPolicy, "foreign", t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		mutate func(map[string][]byte)
		usage  Usage
		at     time.Time
		want   string
	}{
		{"valid", func(map[string][]byte) {}, Server, t0.Add(time.Hour), ""},
		{"missing ca.crt", func(d map[string][]byte) { delete(d, KeyCA) }, Server, t0.Add(time.Hour), "missing key ca.crt"},
		{"another CA", func(d map[string][]byte) { d[KeyCA] = EncodeCert(foreign.Cert) }, Server, t0.Add(time.Hour), "unknown authority"},
		{"key of another certificate", func(d map[string][]byte) { k, _ := EncodeKey(foreign.Key); d[KeyKey] = k }, Server, t0.Add(time.Hour), "does not match"},
		{"expired", func(map[string][]byte) {}, Server, leaf.Cert.NotAfter.Add(time.Second), "expired"},
		{"client cert used as peer", func(map[string][]byte) {}, Peer, t0.Add(time.Hour), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := map[string][]byte{}
			for k, v := range good {
				d[k] = v
			}
			tt.mutate(d)
			_, err := CheckLeaf(d, tt.usage, tt.at)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("CheckLeaf = %v, want %q", err, tt.want)
			}
		})
	}
	client, err := Issue(testPolicy, s.Current, ClientSpec(names()), t0)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := EncodeLeaf(client, s.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckLeaf(cd, Peer, t0.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "incompatible key usage") {
		t.Fatalf("client-only leaf checked as peer: %v", err)
	}
}

func TestServerSpecCoversPodsAndServices(t *testing.T) {
	spec := ServerSpec(names())
	for _, want := range []string{"*.demo-peer.ns.svc.cluster.local", "demo.ns.svc", "demo-leader.ns.svc.cluster.local", "localhost"} {
		found := false
		for _, n := range spec.DNSNames {
			found = found || n == want
		}
		if !found {
			t.Errorf("server SANs %v lack %s", spec.DNSNames, want)
		}
	}
}

// TestStepCARequest: a rotation request (raft.kuberaft.io/rotate-ca)
// starts a rotation long before the CA is due, is served once (recorded
// on the CA Secret and read back), and a new request made during a
// rotation waits for it to finish.
func TestStepCARequest(t *testing.T) {
	step := func(s CAState, request string, now time.Time) (CAState, string) {
		t.Helper()
		n, what, err := StepCA(testPolicy, s, "demo-ca", request, now)
		if err != nil {
			t.Fatal(err)
		}
		// Every state goes through the Secret, as in the controller.
		data, ann, err := EncodeCA(n)
		if err != nil {
			t.Fatal(err)
		}
		if n, err = DecodeCA(data, ann); err != nil {
			t.Fatal(err)
		}
		return n, what
	}
	s, _ := step(CAState{}, "", t0)
	first := s.Current.Cert
	at := t0.Add(time.Hour) // the CA is due in 20 days
	for _, tt := range []struct {
		name, request string
		after         time.Duration
		want          string // substring of what StepCA did; "" = nothing
	}{
		{"no request: nothing", "", 0, ""},
		{"request: introduce", "r1", 0, `rotation requested: "r1"`},
		{"same request, inside the overlap", "r1", testPolicy.Overlap - time.Second, ""},
		{"overlap over: swap", "r1", testPolicy.Overlap, "signs from now on"},
		{"new request while retiring: waits", "r2", testPolicy.Overlap - time.Second, ""},
		{"retiring over: drop", "r2", testPolicy.Overlap, "dropped the retired CA"},
		{"the waiting request starts the next rotation", "r2", 0, `rotation requested: "r2"`},
	} {
		at = at.Add(tt.after)
		n, what := step(s, tt.request, at)
		if (tt.want == "") != (what == "") || !strings.Contains(what, tt.want) {
			t.Fatalf("%s: did %q, want %q", tt.name, what, tt.want)
		}
		s = n
	}
	if s.Served != "r2" || s.Next == nil {
		t.Fatalf("served %q rotating %v", s.Served, s.Rotating())
	}
	// Served requests stay served: the annotation is left in place.
	for range 3 {
		at = at.Add(testPolicy.Overlap)
		s, _ = step(s, "r2", at)
	}
	if s.Rotating() || s.Current.Cert.Equal(first) {
		t.Fatalf("after the second rotation: rotating %v, still the first CA %v", s.Rotating(), s.Current.Cert.Equal(first))
	}
	if _, what := step(s, "r2", at.Add(time.Minute)); what != "" {
		t.Fatalf("a served request started another rotation: %q", what)
	}
}
