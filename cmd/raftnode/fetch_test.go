package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/controllers/backup/store"
	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// snapshotFile writes a valid snapshot file and returns its bytes and
// description.
func snapshotFile(t *testing.T) ([]byte, snapfile.Info) {
	t.Helper()
	var buf bytes.Buffer
	state, err := proto.Marshal(&statepb.Snapshot{ClusterId: 0xabc, Members: []*statepb.Member{{Id: 4, Name: "m"}}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := snapfile.Write(&buf, snapfile.Info{AppliedIndex: 42, Revision: 7, ClusterID: 0xabc}, state)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

func TestFetchFromVolume(t *testing.T) {
	data, info := snapshotFile(t)
	corrupt := bytes.Clone(data)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name    string
		file    []byte
		sha256  string
		wantErr string
	}{
		{name: "verified and placed", file: data, sha256: info.SHA256},
		{name: "no expected checksum: the trailer still checks it", file: data},
		{name: "checksum differs from the RaftBackup's", file: data, sha256: strings.Repeat("0", 64), wantErr: "refusing to restore"},
		{name: "corrupt file", file: corrupt, wantErr: "corrupt"},
		{name: "missing file", wantErr: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, target := t.TempDir(), t.TempDir()
			if tt.file != nil {
				if err := os.MkdirAll(filepath.Join(dir, "p"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "p/b.db"), tt.file, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, result := filepath.Join(target, "restore/snapshot.db"), filepath.Join(target, "result")
			var stderr bytes.Buffer
			code := runBackup(context.Background(), []string{"fetch", "--dir", dir, "--key", "p/b.db", "--sha256", tt.sha256,
				"--out", out, "--result", result}, &bytes.Buffer{}, &stderr)
			msg, _ := os.ReadFile(result)
			if tt.wantErr != "" {
				if code == exitOK || !strings.Contains(strings.ToLower(string(msg)), tt.wantErr) {
					t.Fatalf("exit %d, result %q, want an error with %q", code, msg, tt.wantErr)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Fatalf("a refused file was placed at %s (%v)", out, err)
				}
				return
			}
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("placed file differs (%v)", err)
			}
			var res fetchResult
			if err := json.Unmarshal(msg, &res); err != nil || res.SHA256 != info.SHA256 || res.AppliedIndex != 42 {
				t.Fatalf("result %s (%v)", msg, err)
			}
		})
	}
}

// TestFetchFromS3 reads the file from an in-process S3 fake with the
// credentials from the environment, as the restore Job does.
func TestFetchFromS3(t *testing.T) {
	data, info := snapshotFile(t)
	backend := s3mem.New()
	if err := backend.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	up, err := store.NewS3(store.S3Config{Endpoint: srv.URL, Bucket: "backups", Region: "us-east-1", AccessKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Put(context.Background(), "c/b.db", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	args := []string{"fetch", "--s3-endpoint", srv.URL, "--s3-bucket", "backups", "--key", "c/b.db", "--sha256", info.SHA256,
		"--out", filepath.Join(target, "s.db"), "--result", filepath.Join(target, "result")}
	if code := runBackup(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); code == exitOK {
		t.Fatal("fetch without credentials succeeded")
	}
	t.Setenv(envS3AccessKey, "k")
	t.Setenv(envS3SecretKey, "s")
	var stderr bytes.Buffer
	if code := runBackup(context.Background(), args, &bytes.Buffer{}, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got, err := os.ReadFile(filepath.Join(target, "s.db")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("placed file differs (%v)", err)
	}
}

// TestSaveCredentials: no files is plaintext; given files must load (a
// TLS member refuses a client without a certificate).
func TestSaveCredentials(t *testing.T) {
	if c, err := (clientTLSFiles{}).credentials(); err != nil || c.Info().SecurityProtocol != "insecure" {
		t.Errorf("no files: %v, %v; want plaintext", c, err)
	}
	if _, err := (clientTLSFiles{cert: "/nope/tls.crt", key: "/nope/tls.key", ca: "/nope/ca.crt"}).credentials(); err == nil {
		t.Error("missing certificate files were accepted")
	}
}
