// Package testport hands tests loopback TCP ports for processes they start
// (raftnode, etcd), so that a port given to one process is never given to
// another while the test binary runs.
//
// The usual trick, listening on :0 and closing, is not enough for child
// processes: the port is free again between the close and the child's bind,
// so the kernel may give it to the next :0 listener of this or another test
// binary (go test runs packages in parallel) or to an outgoing connection.
// CI saw exactly that: one member's metrics listener got another member's
// peer port. So ports come from a fixed range below the kernel's ephemeral
// range (which :0 and outgoing connections use), each port is claimed with
// an flock on a file under the temp directory (held until the process
// exits, so other test binaries skip it) and recorded here (so this process
// never hands it out twice), and it is checked to be bindable. No library
// here does all three (hashicorp's freeport is per-process only), and the
// rule is small.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// The range sits below Linux's default ephemeral range (32768-60999) and
// above the fixed ports the README's by-hand cluster and the benchmarks use
// (21379-27590).
const (
	rangeLow  = 28000
	rangeHigh = 32700
)

var (
	mu    sync.Mutex
	taken = map[int]*os.File{} // port -> its held lock file
)

// Reserve returns n distinct free loopback ports, failing t if there are none.
func Reserve(t testing.TB, n int) []int {
	t.Helper()
	ports, err := ReserveErr(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// ReserveErr is Reserve for code without a testing.TB (examples, TestMain).
func ReserveErr(n int) ([]int, error) {
	mu.Lock()
	defer mu.Unlock()
	dir := filepath.Join(os.TempDir(), "kuberaft-testport")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("testport: %w", err)
	}
	size := rangeHigh - rangeLow + 1
	start := rand.IntN(size)
	var ports []int
	for i := 0; i < size && len(ports) < n; i++ {
		port := rangeLow + (start+i)%size
		if _, ok := taken[port]; ok {
			continue
		}
		f, ok := claim(dir, port)
		if !ok {
			continue
		}
		taken[port] = f
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("testport: only %d of %d ports free in %d-%d", len(ports), n, rangeLow, rangeHigh)
	}
	return ports, nil
}

// claim locks port's file and checks the port can be bound. The lock is
// kept (the file stays open) for the life of the process on success.
func claim(dir string, port int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close() // another test binary holds it
		return nil, false
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		_ = f.Close() // something outside our tests uses it
		return nil, false
	}
	_ = l.Close()
	return f, true
}
