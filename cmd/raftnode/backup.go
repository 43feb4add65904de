package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kuberaft/kuberaft/node/snapfile"
)

// backupTimeout bounds one `raftnode backup` run.
const backupTimeout = 10 * time.Minute

// runBackup is `raftnode backup save|delete`, what the operator's backup
// Jobs run on a pod that mounts a PersistentVolumeClaim destination:
//
//	save:   stream the member's snapshot (--endpoint), verify it, write it
//	        to --dir/--key atomically (.part, fsync, rename) and write its
//	        description (JSON of snapfile.Info) to --result (the pod's
//	        termination message, which the operator reads).
//	delete: remove --dir/--key (missing is fine).
//	fetch:  what a restore Job runs (fetch.go).
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fetch" {
		return runFetch(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "save" && args[0] != "delete") {
		fmt.Fprintln(stderr, "raftnode backup: want save, delete or fetch")
		return exitUsage
	}
	fs := pflag.NewFlagSet("raftnode backup "+args[0], pflag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "host:port of the member's client port (save)")
	dir := fs.String("dir", "", "mount point of the destination volume")
	key := fs.String("key", "", "path of the file under --dir")
	result := fs.String("result", "/dev/termination-log", "where save writes the snapshot's description (JSON)")
	var tlsFiles clientTLSFiles
	fs.StringVar(&tlsFiles.cert, "cert-file", "", "client certificate to dial a TLS member with (save)")
	fs.StringVar(&tlsFiles.key, "key-file", "", "its key")
	fs.StringVar(&tlsFiles.ca, "trusted-ca-file", "", "CA bundle the member's server certificate chains to")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	path, err := underDir(*dir, *key)
	if err == nil && args[0] == "save" && *endpoint == "" {
		err = errors.New("--endpoint is required")
	}
	if err != nil {
		fmt.Fprintf(stderr, "raftnode backup: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, backupTimeout)
	defer cancel()
	if args[0] == "delete" {
		err = os.Remove(path)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	} else {
		err = saveBackup(ctx, *endpoint, tlsFiles, path, *result, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "raftnode backup %s: %v\n", args[0], err)
		_ = os.WriteFile(*result, []byte(err.Error()), 0o644) // the operator shows it
		return exitFailure
	}
	return exitOK
}

// underDir joins dir and key, refusing a key that escapes dir.
func underDir(dir, key string) (string, error) {
	if dir == "" || key == "" {
		return "", errors.New("--dir and --key are required")
	}
	p := filepath.Join(dir, filepath.FromSlash(key))
	if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
		return "", fmt.Errorf("--key %q escapes --dir", key)
	}
	return p, nil
}

// clientTLSFiles is the identity save dials a TLS cluster's member with:
// the operator's client certificate, mounted from its Secret.
type clientTLSFiles struct{ cert, key, ca string }

// credentials are TLS ones when the files are given (the server name is
// the dialed host, a name the member's certificate carries), else
// plaintext.
func (f clientTLSFiles) credentials() (credentials.TransportCredentials, error) {
	if f == (clientTLSFiles{}) {
		return insecure.NewCredentials(), nil
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, fmt.Errorf("--trusted-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("--trusted-ca-file: no PEM certificate")
	}
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, RootCAs: pool}), nil
}

func saveBackup(ctx context.Context, endpoint string, tlsFiles clientTLSFiles, path, result string, stdout io.Writer) error {
	creds, err := tlsFiles.credentials()
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient("passthrough:///"+endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer func() { _ = cc.Close() }()
	stream, err := pb.NewMaintenanceClient(cc).Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("snapshot stream: %w", err)
		}
		buf.Write(resp.GetBlob())
	}
	info, _, err := snapfile.Read(buf.Bytes())
	if err != nil {
		return err // verified before anything is written
	}
	if err := snapfile.WriteFile(path, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		return err
	}
	out, err := json.Marshal(info)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return os.WriteFile(result, out, 0o644)
}
