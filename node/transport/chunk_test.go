package transport

import (
	"bytes"
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
			var sent [][]byte
			w := &chunkWriter{send: func(c *peerpb.SnapshotChunk) error { sent = append(sent, c.Db); return nil }}
			scratch := make([]byte, tc.pieces)
			for off := 0; off < len(src); off += tc.pieces {
				n := copy(scratch, src[off:min(off+tc.pieces, len(src))])
				if got, err := w.Write(scratch[:n]); err != nil || got != n {
					t.Fatalf("Write = %d, %v; want %d, nil", got, err, n)
				}
				clear(scratch) // the caller reuses its buffer
			}
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
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
		})
	}
}
