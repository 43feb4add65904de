// Package snapfile is the format of a backup file: one consistent snapshot
// of a node's state machine at a known applied index, as streamed by
// Maintenance.Snapshot and read back by --restore-from.
//
// It is etcd's snapshot format: a bbolt database holding etcd's mvcc
// buckets (the store's own backend file, node/kv's engine) followed by the
// SHA-256 of the database as a 32-byte trailer. So etcd's tooling reads it
// unchanged: `etcdctl snapshot save` accepts a stream only when its size is
// a multiple of 512 plus the trailer (client/v3/snapshot hasChecksum; a
// bbolt file is whole pages), and `etcdutl snapshot status` reads the
// revision and keys from the mvcc buckets. The applied index and its term
// are etcd's meta bucket `consistent_index` and `term`.
//
// What etcd keeps elsewhere (member metadata, client sessions, alarms,
// the cluster ID) and the snapshot's description are in one extra bucket,
// `kuberaft`: `info` (Info as JSON, with a format version) and `state`
// (node/kv's snapshot without its backend). Read removes that bucket again,
// so the restored backend is the store's own.
package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/storage/schema"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
)

// Format constants: the etcd client rules the file must satisfy.
const (
	// PageSize is the unit etcd's clients assume the database comes in.
	PageSize = 512
	// TrailerSize is the SHA-256 trailer's length.
	TrailerSize = sha256.Size
	// version is the format version recorded in info.
	version = 2
)

// The kuberaft bucket and its keys (see the package doc).
var (
	bucketName = []byte("kuberaft")
	infoKey    = []byte("info")
	stateKey   = []byte("state")
)

// openTimeout bounds the wait for bbolt's file lock on the temporary copy
// (nobody else opens it; a wait means a bug, not contention).
const openTimeout = 10 * time.Second

// ErrCorrupt is returned (wrapped) for any file that is truncated, has a
// bad checksum or is not a kuberaft snapshot.
var ErrCorrupt = errors.New("snapshot file is corrupt or truncated")

// Info describes a snapshot: where in the log it was taken and by whom.
type Info struct {
	// AppliedIndex is the last raft index applied to the state.
	AppliedIndex uint64
	// Term is the raft term of AppliedIndex.
	Term uint64
	// Revision is the KV store revision of the state.
	Revision int64
	// ClusterID and MemberID identify the source member.
	ClusterID, MemberID uint64
	// Size is the file's length in bytes, trailer included.
	Size int64
	// SHA256 is the hex SHA-256 of the whole file (trailer included),
	// what `sha256sum` prints for it.
	SHA256 string
}

// storedInfo is Info as stored in the kuberaft bucket (its Size and
// SHA256 are empty there: they describe the whole file, known only after).
type storedInfo struct {
	Version int
	Info
}

// Write writes state (node/kv's Snapshot bytes: metadata and a copy of the
// bbolt backend) as a snapshot file described by info (Size and SHA256 are
// ignored) and returns info with Size and SHA256 filled.
func Write(w io.Writer, info Info, state []byte) (Info, error) {
	snap := &statepb.Snapshot{}
	if err := proto.Unmarshal(state, snap); err != nil {
		return info, fmt.Errorf("snapfile: state: %w", err)
	}
	backend := snap.Backend
	snap.Backend = nil
	meta, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return info, fmt.Errorf("snapfile: state metadata: %w", err)
	}
	infoJSON, err := json.Marshal(storedInfo{Version: version, Info: info})
	if err != nil {
		return info, fmt.Errorf("snapfile: info: %w", err)
	}
	var body bytes.Buffer
	err = withDB(backend, func(db *bolt.DB) error {
		if err := db.Update(func(tx *bolt.Tx) error {
			m, err := tx.CreateBucketIfNotExists(schema.Meta.Name())
			if err != nil {
				return err
			}
			// etcd's UnsafeUpdateConsistentIndex encoding.
			if err := m.Put(schema.MetaConsistentIndexKeyName, binary.BigEndian.AppendUint64(nil, info.AppliedIndex)); err != nil {
				return err
			}
			if err := m.Put(schema.MetaTermKeyName, binary.BigEndian.AppendUint64(nil, info.Term)); err != nil {
				return err
			}
			k, err := tx.CreateBucketIfNotExists(bucketName)
			if err != nil {
				return err
			}
			return errors.Join(k.Put(infoKey, infoJSON), k.Put(stateKey, meta))
		}); err != nil {
			return err
		}
		return db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&body); return err })
	})
	if err != nil {
		return info, fmt.Errorf("snapfile: build database: %w", err)
	}
	if body.Len()%PageSize != 0 {
		return info, fmt.Errorf("snapfile: database of %d bytes is not whole %d-byte pages", body.Len(), PageSize)
	}
	sum := sha256.Sum256(body.Bytes())
	whole := sha256.New()
	out := io.MultiWriter(w, whole)
	for _, b := range [][]byte{body.Bytes(), sum[:]} {
		if _, err := out.Write(b); err != nil {
			return info, fmt.Errorf("snapfile: write: %w", err)
		}
	}
	info.Size = int64(body.Len() + TrailerSize)
	info.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return info, nil
}

// Read parses and verifies a whole snapshot file (size, checksum, the
// kuberaft bucket and its version) and returns its description and the
// state as node/kv's Snapshot bytes. Any failure wraps ErrCorrupt with the
// reason.
func Read(data []byte) (Info, []byte, error) {
	size := len(data)
	if size < PageSize+TrailerSize || (size-TrailerSize)%PageSize != 0 {
		return Info{}, nil, fmt.Errorf("%w: size %d is not a multiple of %d plus a %d-byte checksum", ErrCorrupt, size, PageSize, TrailerSize)
	}
	body, trailer := data[:size-TrailerSize], data[size-TrailerSize:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], trailer) {
		return Info{}, nil, fmt.Errorf("%w: SHA-256 mismatch (stored %x, computed %x)", ErrCorrupt, trailer, sum)
	}
	var (
		stored storedInfo
		snap   = &statepb.Snapshot{}
		be     bytes.Buffer
	)
	err := withDB(body, func(db *bolt.DB) error {
		if err := db.Update(func(tx *bolt.Tx) error {
			k := tx.Bucket(bucketName)
			if k == nil {
				return errors.New("no kuberaft bucket (an etcd member's snapshot cannot be restored here)")
			}
			if err := json.Unmarshal(k.Get(infoKey), &stored); err != nil {
				return fmt.Errorf("info: %w", err)
			}
			if stored.Version != version {
				return fmt.Errorf("format version %d, this node reads %d", stored.Version, version)
			}
			if err := proto.Unmarshal(k.Get(stateKey), snap); err != nil {
				return fmt.Errorf("state: %w", err)
			}
			return tx.DeleteBucket(bucketName)
		}); err != nil {
			return err
		}
		return db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&be); return err })
	})
	if err != nil {
		return Info{}, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	snap.Backend = be.Bytes()
	state, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return Info{}, nil, fmt.Errorf("snapfile: state: %w", err)
	}
	whole := sha256.Sum256(data)
	info := stored.Info
	info.Size, info.SHA256 = int64(size), hex.EncodeToString(whole[:])
	return info, state, nil
}

// withDB opens a temporary copy of the bbolt database db (empty: a new
// one), runs fn on it and removes it. bbolt works on files, not bytes.
func withDB(db []byte, fn func(*bolt.DB) error) (err error) {
	dir, err := os.MkdirTemp("", "kuberaft-snapfile-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	path := filepath.Join(dir, "db")
	if len(db) > 0 {
		if err := os.WriteFile(path, db, 0o600); err != nil {
			return err
		}
	}
	// NoSync: the copy is scratch; the caller writes the result elsewhere.
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, NoSync: true})
	if err != nil {
		return err
	}
	return errors.Join(fn(b), b.Close())
}
