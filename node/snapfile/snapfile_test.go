package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/storage/schema"
	"google.golang.org/protobuf/proto"

	"github.com/kuberaft/kuberaft/node/api/statepb"
	"github.com/kuberaft/kuberaft/node/kv"
)

// newStore is a store with n keys and cluster ID 7.
func newStore(t *testing.T, n int) *kv.Store {
	t.Helper()
	s, err := kv.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	s.SetClusterID(7)
	for i := range n {
		if _, err := s.Put(&pb.PutRequest{Key: binary.BigEndian.AppendUint32([]byte("k"), uint32(i)), Value: bytes.Repeat([]byte{'v'}, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 2000} {
		src := newStore(t, n)
		state, err := src.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		in := Info{AppliedIndex: 42, Term: 3, Revision: src.Revision(), ClusterID: 7, MemberID: 9}
		var buf bytes.Buffer
		wrote, err := Write(&buf, in, state)
		if err != nil {
			t.Fatal(err)
		}
		size := buf.Len()
		// etcdctl snapshot save's acceptance rule (client/v3/snapshot).
		if size%PageSize != TrailerSize {
			t.Fatalf("%d keys: file size %d is not 512k+32", n, size)
		}
		sum := sha256.Sum256(buf.Bytes())
		if wrote.Size != int64(size) || wrote.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("Write info %+v, want size %d sha %x", wrote, size, sum)
		}
		checkEtcdMeta(t, buf.Bytes()[:size-TrailerSize], 42, 3)

		got, gotState, err := Read(buf.Bytes())
		if err != nil {
			t.Fatalf("%d keys: %v", n, err)
		}
		if got != wrote {
			t.Fatalf("%d keys: read %+v, want %+v", n, got, wrote)
		}
		dst := newStore(t, 0)
		if err := dst.Restore(gotState); err != nil {
			t.Fatal(err)
		}
		a, _ := src.Digest()
		b, _ := dst.Digest()
		if a != b || dst.Len() != n || dst.ClusterID() != 7 {
			t.Fatalf("%d keys: restored store differs (%d keys, cluster %d)", n, dst.Len(), dst.ClusterID())
		}
		snap := &statepb.Snapshot{}
		if err := proto.Unmarshal(gotState, snap); err != nil {
			t.Fatal(err)
		}
		if hasBucket(t, snap.Backend, bucketName) {
			t.Fatal("the restored backend still holds the kuberaft bucket")
		}
	}
}

// checkEtcdMeta: the database is a bbolt file with etcd's mvcc buckets and
// etcd's consistent index and term, as etcd's tools expect.
func checkEtcdMeta(t *testing.T, db []byte, index, term uint64) {
	t.Helper()
	err := withDB(db, func(d *bolt.DB) error {
		return d.View(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{schema.Key.Name(), schema.Meta.Name()} {
				if tx.Bucket(b) == nil {
					t.Errorf("no %s bucket", b)
					return nil
				}
			}
			m := tx.Bucket(schema.Meta.Name())
			if got := binary.BigEndian.Uint64(m.Get(schema.MetaConsistentIndexKeyName)); got != index {
				t.Errorf("consistent_index %d, want %d", got, index)
			}
			if got := binary.BigEndian.Uint64(m.Get(schema.MetaTermKeyName)); got != term {
				t.Errorf("term %d, want %d", got, term)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hasBucket(t *testing.T, db, name []byte) (has bool) {
	t.Helper()
	if err := withDB(db, func(d *bolt.DB) error {
		return d.View(func(tx *bolt.Tx) error { has = tx.Bucket(name) != nil; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return has
}

func TestReadRefusesDamage(t *testing.T) {
	state, err := newStore(t, 3).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Write(&buf, Info{AppliedIndex: 5}, state); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	cases := map[string][]byte{
		"empty":             nil,
		"truncated tail":    good[:len(good)-1],
		"truncated to page": good[:PageSize],
		"no trailer":        good[:len(good)-TrailerSize],
		"flipped body byte": flip(PageSize + 2),
		"flipped checksum":  flip(len(good) - 1),
		"zero file":         make([]byte, PageSize+TrailerSize),
		"etcd's own file":   plainEtcdSnapshot(t),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Read(data); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read = %v, want ErrCorrupt", err)
			}
		})
	}
}

// plainEtcdSnapshot is a valid bbolt file with a correct trailer but no
// kuberaft bucket, like an etcd member's snapshot.
func plainEtcdSnapshot(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(schema.Key.Name()); return err }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return append(data, sum[:]...)
}
