package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// contract runs the Store contract against s.
func contract(t *testing.T, s Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := bytes.Repeat([]byte("backup"), 10000)
	key := "prefix/ns/c1/b1.db"
	if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Put = %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
	}
	for range 2 { // deleting twice is fine (pruning retries)
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
}

func TestDir(t *testing.T) {
	d := NewDir(t.TempDir(), "claim")
	contract(t, d)
	if err := d.Put(context.Background(), "../escape", bytes.NewReader(nil), 0); err == nil {
		t.Fatal("a key escaping the volume was accepted")
	}
	if d.Location("a/b.db") != "pvc://claim/a/b.db" {
		t.Fatal(d.Location("a/b.db"))
	}
}

// TestS3 runs the contract against an in-process S3 fake (gofakes3): a
// unit test of the client wiring; the e2e uses a real S3 server.
func TestS3(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	s, err := NewS3(S3Config{Endpoint: srv.URL, Bucket: "backups", Region: "us-east-1", AccessKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	contract(t, s)
}

func TestNewS3RejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]S3Config{
		"no scheme":  {Endpoint: "s3.example.com"},
		"ftp":        {Endpoint: "ftp://s3.example.com"},
		"bad CA PEM": {Endpoint: "https://s3.example.com", CAPEM: []byte("not a cert")},
	} {
		if _, err := NewS3(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
