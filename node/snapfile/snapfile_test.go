package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, PageSize - headerSize, PageSize - headerSize + 1, 5000} {
		state := bytes.Repeat([]byte{0xab}, n)
		in := Info{AppliedIndex: 42, Term: 3, Revision: 17, ClusterID: 7, MemberID: 9}
		var buf bytes.Buffer
		wrote, err := Write(&buf, in, state)
		if err != nil {
			t.Fatal(err)
		}
		size := buf.Len()
		// etcdctl snapshot save's acceptance rule (client/v3/snapshot).
		if size%PageSize != TrailerSize {
			t.Fatalf("state %d bytes: file size %d is not 512k+32", n, size)
		}
		sum := sha256.Sum256(buf.Bytes())
		if wrote.Size != int64(size) || wrote.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("Write info %+v, want size %d sha %x", wrote, size, sum)
		}
		got, gotState, err := Read(buf.Bytes())
		if err != nil {
			t.Fatalf("state %d bytes: %v", n, err)
		}
		if got != wrote || !bytes.Equal(gotState, state) {
			t.Fatalf("state %d bytes: read %+v (%d bytes), want %+v", n, got, len(gotState), wrote)
		}
	}
}

func TestReadRefusesDamage(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Write(&buf, Info{AppliedIndex: 5}, []byte("some state")); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 1
		return b
	}
	cases := map[string][]byte{
		"empty":              nil,
		"truncated tail":     good[:len(good)-1],
		"truncated to page":  good[:PageSize],
		"no trailer":         good[:len(good)-TrailerSize],
		"flipped state byte": flip(headerSize + 2),
		"flipped header":     flip(20),
		"flipped checksum":   flip(len(good) - 1),
		"zero file":          make([]byte, PageSize+TrailerSize),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Read(data); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read = %v, want ErrCorrupt", err)
			}
		})
	}
}
