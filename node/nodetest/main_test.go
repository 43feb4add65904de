package nodetest

import (
	"os"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
)

func TestMain(m *testing.M) {
	// 4 MB WAL segments instead of 64 MB: dozens of members come and go,
	// and small segments also make the tests cut and purge segments.
	wal.SegmentSizeBytes = 4 << 20
	os.Exit(m.Run())
}
