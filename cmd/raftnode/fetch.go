package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/kuberaft/kuberaft/controllers/backup/store"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// Environment variables that carry a restore's S3 credentials (from the
// destination's Secret, never on the command line).
const (
	envS3AccessKey = "S3_ACCESS_KEY_ID"
	envS3SecretKey = "S3_SECRET_ACCESS_KEY"
)

// fetchResult is fetch's description of the file it placed: the
// snapshot's own description (its SHA256 is the file's, verified) and
// where it came from.
type fetchResult struct {
	snapfile.Info
	Location string `json:"location"`
}

// runFetch is `raftnode backup fetch`, the operator's restore Job: read
// --key from a mounted volume (--dir) or an S3 bucket (--s3-*), check its
// SHA-256 against --sha256 and its integrity trailer, and only then write
// it to --out atomically (.part, fsync, rename), where the restored
// member's --restore-from reads it. Its description goes to --result.
func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("raftnode backup fetch", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var src fetchSource
	fs.StringVar(&src.dir, "dir", "", "mount point of a volume holding the file (PVC source)")
	fs.StringVar(&src.s3.Endpoint, "s3-endpoint", "", "http(s)://host[:port] of the S3 server (S3 source)")
	fs.StringVar(&src.s3.Bucket, "s3-bucket", "", "bucket of the file (S3 source)")
	fs.StringVar(&src.s3.Region, "s3-region", "us-east-1", "bucket region (S3 source)")
	fs.StringVar(&src.caFile, "s3-ca-file", "", "PEM CA bundle to trust for an https endpoint")
	key := fs.String("key", "", "object key (S3) or path under --dir of the file")
	want := fs.String("sha256", "", "expected hex SHA-256 of the file (refused when it differs)")
	out := fs.String("out", "", "where to write the verified file")
	result := fs.String("result", "/dev/termination-log", "where to write the file's description (JSON)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *key == "" || *out == "" || (src.dir == "") == (src.s3.Endpoint == "") {
		fmt.Fprintln(stderr, "raftnode backup fetch: --key, --out and one of --dir or --s3-endpoint are required")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, backupTimeout)
	defer cancel()
	res, err := fetch(ctx, src, *key, *want, *out)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(res); err == nil {
			fmt.Fprintf(stdout, "%s\n", b)
			err = os.WriteFile(*result, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "raftnode backup fetch: %v\n", err)
		_ = os.WriteFile(*result, []byte(err.Error()), 0o644) // the operator shows it
		return exitFailure
	}
	return exitOK
}

// fetchSource is where the file is: a mounted directory or a bucket.
type fetchSource struct {
	dir    string
	s3     store.S3Config
	caFile string
}

func (src fetchSource) open() (store.Store, error) {
	if src.dir != "" {
		return store.NewDir(src.dir, src.dir), nil
	}
	src.s3.AccessKey, src.s3.SecretKey = os.Getenv(envS3AccessKey), os.Getenv(envS3SecretKey)
	if src.s3.AccessKey == "" || src.s3.SecretKey == "" {
		return nil, fmt.Errorf("%s and %s must be set", envS3AccessKey, envS3SecretKey)
	}
	if src.caFile != "" {
		ca, err := os.ReadFile(src.caFile)
		if err != nil {
			return nil, err
		}
		src.s3.CAPEM = ca
	}
	return store.NewS3(src.s3)
}

// fetch reads the whole file (a snapshot fits in memory: the node holds
// its state in memory too), verifies it and writes it to out.
func fetch(ctx context.Context, src fetchSource, key, want, out string) (fetchResult, error) {
	st, err := src.open()
	if err != nil {
		return fetchResult{}, err
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		return fetchResult{}, err
	}
	data, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return fetchResult{}, fmt.Errorf("read %s: %w", st.Location(key), err)
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if want != "" && got != want {
		return fetchResult{}, fmt.Errorf("%s: sha256 %s, want %s (the RaftBackup's): refusing to restore it", st.Location(key), got, want)
	}
	info, _, err := snapfile.Read(data)
	if err != nil {
		return fetchResult{}, fmt.Errorf("%s: %w", st.Location(key), err)
	}
	if err := snapfile.WriteFile(out, bytes.NewReader(data), int64(len(data))); err != nil {
		return fetchResult{}, err
	}
	return fetchResult{Info: info, Location: st.Location(key)}, nil
}
