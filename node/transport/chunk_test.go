package transport

import (
	"bytes"
	"io"
	"testing"

	"github.com/kuberaft/kuberaft/node/api/peerpb"
)

// TestChunkWriter: whatever the sizes of the writes, the key space goes
// out in whole chunks (the last one shorter), in order, and a sent chunk
// does not change when the writer's caller reuses its buffer.
func TestChunkWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		total  int
		pieces int // size of each Write
	}{
		{"bbolt's 32 KiB pieces", 3*chunkBytes + 100, 32 << 10},
		{"one large write", 2*chunkBytes + 1, 2*chunkBytes + 1},
		{"odd pieces", chunkBytes + 7, 1000},
		{"exactly one chunk", chunkBytes, 4096},
		{"nothing", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := make([]byte, tc.total)
			for i := range src {
				src[i] = byte(i * 7)
			}
			for _, viaCopy := range []bool{false, true} {
				checkChunks(t, src, writeChunks(t, src, tc.pieces, viaCopy))
			}
		})
	}
}

// writeChunks writes src to a chunkWriter and returns the chunks sent:
// in Writes of pieces bytes, or, as bbolt's Tx.WriteTo does, one Write
// (its meta pages) and then io.CopyN from a reader that is no WriterTo,
// which goes through the writer's ReadFrom.
func writeChunks(t *testing.T, src []byte, pieces int, viaCopy bool) [][]byte {
	t.Helper()
	var sent [][]byte
	// send keeps a copy, as gRPC's codec does before Send returns: the
	// writer reuses its buffer.
	w := newChunkWriter(func(c *peerpb.SnapshotChunk) error { sent = append(sent, bytes.Clone(c.Db)); return nil })
	scratch := make([]byte, pieces)
	for off := 0; off < len(src); off += pieces {
		n := copy(scratch, src[off:min(off+pieces, len(src))])
		if got, err := w.Write(scratch[:n]); err != nil || got != n {
			t.Fatalf("Write = %d, %v; want %d, nil", got, err, n)
		}
		clear(scratch) // the caller reuses its buffer
		if viaCopy {
			rest := src[off+n:]
			if got, err := io.CopyN(w, io.LimitReader(bytes.NewReader(rest), int64(len(rest))), int64(len(rest))); err != nil || got != int64(len(rest)) {
				t.Fatalf("CopyN = %d, %v; want %d, nil", got, err, len(rest))
			}
			break
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return sent
}

func checkChunks(t *testing.T, src []byte, sent [][]byte) {
	t.Helper()
	for i, c := range sent {
		if i < len(sent)-1 && len(c) != chunkBytes {
			t.Errorf("chunk %d has %d bytes, want %d", i, len(c), chunkBytes)
		}
		if len(c) == 0 || len(c) > chunkBytes {
			t.Errorf("chunk %d has %d bytes", i, len(c))
		}
	}
	if got := bytes.Join(sent, nil); !bytes.Equal(got, src) {
		t.Errorf("sent %d bytes that differ from the %d written", len(got), len(src))
	}
}
