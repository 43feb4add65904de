package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnsureIDKeepsFirstBoot is the property the smoke test relies on: a pod
// that comes back on the same volume reports the id of its first boot.
func TestEnsureIDKeepsFirstBoot(t *testing.T) {
	dir := t.TempDir()
	first, err := ensureID(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ensureID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("id changed across boots: %q then %q", first, second)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "id"))
	if err != nil || string(onDisk) != first {
		t.Fatalf("id file = %q, %v; want %q", onDisk, err, first)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"lookup"}, {"get", "a", "b"}, {"nope"}} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestTLSProbe: a server that requires client certificates refuses the
// probe (under TLS 1.3 the refusal arrives after the handshake, on the
// first read); one that does not accepts it.
func TestTLSProbe(t *testing.T) {
	for _, tt := range []struct {
		name   string
		auth   tls.ClientAuthType
		refuse bool
	}{
		{"client certificate required", tls.RequireAnyClientCert, true},
		{"no client certificate needed", tls.NoClientCert, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.EnableHTTP2 = true
			srv.TLS = &tls.Config{ClientAuth: tt.auth}
			srv.StartTLS()
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var out strings.Builder
			err := tlsProbe(ctx, srv.Listener.Addr().String(), &out)
			if (err != nil) != tt.refuse || strings.HasPrefix(out.String(), "refused") != tt.refuse {
				t.Fatalf("probe: %v, printed %q; want refused=%v", err, out.String(), tt.refuse)
			}
		})
	}
}
