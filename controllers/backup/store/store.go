// Package store puts backup files where a RaftBackup's destination says:
// an S3-compatible bucket (through minio-go, a maintained S3 client that
// speaks path-style requests to any S3-compatible server and needs no
// checksum-mode workarounds for third-party servers, unlike recent
// aws-sdk-go-v2) or a directory on a mounted PersistentVolumeClaim.
package store

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("backup file not found")

// Store is one destination.
type Store interface {
	// Put stores size bytes from r under key, atomically: a reader never
	// sees a partial file.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the file under key (ErrNotFound when missing).
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes key; a missing key is not an error (pruning is
	// retried after crashes).
	Delete(ctx context.Context, key string) error
	// Location is a URL-like name of key for status: s3://bucket/key or
	// pvc://claim/key.
	Location(key string) string
}
