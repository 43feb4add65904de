package transport

import (
	"bytes"
	"io"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// discardHandler is a fakeHandler whose received key spaces are counted,
// not kept.
type discardHandler struct {
	*fakeHandler
}

func (h discardHandler) ReceiveSnapshotDB(_ uint64, r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// BenchmarkSnapshotTransfer measures the peer transport's throughput for a
// key space streamed after a MsgSnap (a new member's catch-up is mostly
// this): go test -bench SnapshotTransfer -benchtime 5x ./node/transport
func BenchmarkSnapshotTransfer(b *testing.B) {
	const size = 256 << 20
	ha, hb := newFakeHandler(), newFakeHandler()
	ha.db = bytes.Repeat([]byte("0123456789abcdef"), size/16)
	a, _ := startGRPC(b, 1, 9, ha)
	_, urlB := startGRPC(b, 2, 9, discardHandler{hb})
	a.AddPeer(2, []string{urlB})
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		snap := &raftpb.Message{Type: raftpb.MessageType_MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
			Snapshot: &raftpb.Snapshot{Data: []byte("meta"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(i + 1)), Term: new(uint64(1))}}}
		a.Send([]*raftpb.Message{snap})
		ha.waitFor(b, "snapshot report", func() bool { return len(ha.snapReports) == i+1 })
		if ha.snapReports[i] != raft.SnapshotFinish {
			b.Fatalf("snapshot report %v", ha.snapReports[i])
		}
	}
}
