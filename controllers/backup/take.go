package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"github.com/kuberaft/kuberaft/controllers/backup/store"
	"github.com/kuberaft/kuberaft/node/snapfile"
)

// Take streams a snapshot from the member behind conn (etcd's
// Maintenance.Snapshot, taken at a linearizable point by the node),
// verifies it (size, SHA-256 trailer, format) before storing anything, so
// a corrupt or cut stream never becomes a backup, stores it under key and
// reads it back to check the stored SHA-256.
func Take(ctx context.Context, conn grpc.ClientConnInterface, st store.Store, key string) (snapfile.Info, error) {
	data, err := download(ctx, conn)
	if err != nil {
		return snapfile.Info{}, err
	}
	info, _, err := snapfile.Read(data)
	if err != nil {
		return snapfile.Info{}, fmt.Errorf("snapshot from member: %w", err)
	}
	if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return snapfile.Info{}, err
	}
	if err := verifyStored(ctx, st, key, info.SHA256); err != nil {
		return snapfile.Info{}, err
	}
	return info, nil
}

// download reads the whole Snapshot stream.
func download(ctx context.Context, conn grpc.ClientConnInterface) ([]byte, error) {
	stream, err := pb.NewMaintenanceClient(conn).Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		return nil, fmt.Errorf("snapshot stream: %w", err)
	}
	var buf bytes.Buffer
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot stream: %w", err)
		}
		buf.Write(resp.GetBlob())
	}
}

// verifyStored reads key back and compares its SHA-256 with want.
func verifyStored(ctx context.Context, st store.Store, key, want string) error {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	defer func() { _ = rc.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return fmt.Errorf("read back %s: %w", st.Location(key), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("stored %s has SHA-256 %s, want %s", st.Location(key), got, want)
	}
	return nil
}
