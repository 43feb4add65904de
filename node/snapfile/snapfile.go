// Package snapfile is the format of a backup file: one consistent snapshot
// of a node's state machine at a known applied index, as streamed by
// Maintenance.Snapshot and read back by --restore-from.
//
// It is shaped so that etcd's own client tooling handles it unchanged:
// etcdctl `snapshot save` copies the stream to a file and accepts it only
// when the size is a multiple of 512 plus a 32-byte SHA-256 trailer (the
// bbolt page arithmetic etcd's clients use to detect the trailer, see
// client/v3/snapshot hasChecksum). So the body is padded with zeroes to a
// multiple of 512 and followed by the SHA-256 of everything before it.
//
// Layout (integers big-endian):
//
//	magic "KRAFTSNP" | version u32 | reserved u32 |
//	applied index u64 | term u64 | revision i64 | cluster ID u64 |
//	member ID u64 | state length u64 | state | zero padding | sha256
//
// The state bytes are opaque here: whatever the state machine's Snapshot
// produced, restored by its Restore.
package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Format constants: the etcd client rules the file must satisfy.
const (
	// PageSize is the padding unit etcd's clients assume (bbolt's page).
	PageSize = 512
	// TrailerSize is the SHA-256 trailer's length.
	TrailerSize = sha256.Size
	headerSize  = 64
	version     = 1
	magic       = "KRAFTSNP"
)

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

// Write writes state as a snapshot file described by info (Size and
// SHA256 are ignored) and returns info with Size and SHA256 filled.
func Write(w io.Writer, info Info, state []byte) (Info, error) {
	var hdr [headerSize]byte
	copy(hdr[0:8], magic)
	binary.BigEndian.PutUint32(hdr[8:12], version)
	binary.BigEndian.PutUint64(hdr[16:24], info.AppliedIndex)
	binary.BigEndian.PutUint64(hdr[24:32], info.Term)
	binary.BigEndian.PutUint64(hdr[32:40], uint64(info.Revision))
	binary.BigEndian.PutUint64(hdr[40:48], info.ClusterID)
	binary.BigEndian.PutUint64(hdr[48:56], info.MemberID)
	binary.BigEndian.PutUint64(hdr[56:64], uint64(len(state)))
	body := headerSize + len(state)
	pad := make([]byte, (PageSize-body%PageSize)%PageSize)

	inner := sha256.New()
	whole := sha256.New()
	out := io.MultiWriter(w, inner, whole)
	for _, b := range [][]byte{hdr[:], state, pad} {
		if _, err := out.Write(b); err != nil {
			return info, fmt.Errorf("snapfile: write: %w", err)
		}
	}
	sum := inner.Sum(nil)
	if _, err := io.MultiWriter(w, whole).Write(sum); err != nil {
		return info, fmt.Errorf("snapfile: write checksum: %w", err)
	}
	info.Size = int64(body + len(pad) + TrailerSize)
	info.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return info, nil
}

// Read parses and verifies a whole snapshot file: size, checksum, magic,
// version, padding. Any failure wraps ErrCorrupt with the reason.
func Read(data []byte) (Info, []byte, error) {
	size := len(data)
	if size < headerSize+TrailerSize || (size-TrailerSize)%PageSize != 0 {
		return Info{}, nil, fmt.Errorf("%w: size %d is not a multiple of %d plus a %d-byte checksum", ErrCorrupt, size, PageSize, TrailerSize)
	}
	body, trailer := data[:size-TrailerSize], data[size-TrailerSize:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], trailer) {
		return Info{}, nil, fmt.Errorf("%w: SHA-256 mismatch (stored %x, computed %x)", ErrCorrupt, trailer, sum)
	}
	if string(body[0:8]) != magic {
		return Info{}, nil, fmt.Errorf("%w: not a kuberaft snapshot (magic %q; an etcd bbolt snapshot cannot be restored here)", ErrCorrupt, body[0:8])
	}
	if v := binary.BigEndian.Uint32(body[8:12]); v != version {
		return Info{}, nil, fmt.Errorf("%w: format version %d, this node reads %d", ErrCorrupt, v, version)
	}
	n := binary.BigEndian.Uint64(body[56:64])
	if n > uint64(len(body)-headerSize) {
		return Info{}, nil, fmt.Errorf("%w: state length %d exceeds the file", ErrCorrupt, n)
	}
	state := body[headerSize : headerSize+int(n)]
	if !allZero(body[headerSize+int(n):]) {
		return Info{}, nil, fmt.Errorf("%w: non-zero padding", ErrCorrupt)
	}
	whole := sha256.Sum256(data)
	return Info{
		AppliedIndex: binary.BigEndian.Uint64(body[16:24]),
		Term:         binary.BigEndian.Uint64(body[24:32]),
		Revision:     int64(binary.BigEndian.Uint64(body[32:40])),
		ClusterID:    binary.BigEndian.Uint64(body[40:48]),
		MemberID:     binary.BigEndian.Uint64(body[48:56]),
		Size:         int64(size),
		SHA256:       hex.EncodeToString(whole[:]),
	}, state, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
