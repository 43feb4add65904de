package testport

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func TestReserveNeverRepeatsAPort(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		for _, p := range Reserve(t, 3) {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
		}
	}
}

// TestReserveStaysOutOfTheEphemeralRange: ports the kernel hands to :0
// listeners and outgoing connections must never be ours, or a port can be
// taken between our check and the child's bind.
func TestReserveStaysOutOfTheEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Fatalf("read the ephemeral range: %v", err)
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		t.Fatalf("parse %q: %v", b, err)
	}
	for _, p := range Reserve(t, 20) {
		if p >= lo && p <= hi {
			t.Errorf("port %d is in the ephemeral range %d-%d", p, lo, hi)
		}
	}
}

// TestReserveSkipsPortsOtherBinariesHold models a second test binary: a
// port whose lock file another open file description holds is not handed
// out, nor is a port something already listens on.
func TestReserveSkipsPortsOtherBinariesHold(t *testing.T) {
	dir := filepath.Join(os.TempDir(), "kuberaft-testport")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	held := map[int]bool{}
	for p := rangeLow; p < rangeLow+(rangeHigh-rangeLow)/2; p++ {
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			held[p] = true
		}
	}
	var listening []int
	for p := rangeLow + (rangeHigh-rangeLow)/2; p <= rangeHigh && len(listening) < 200; p++ {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			t.Cleanup(func() { _ = l.Close() })
			listening = append(listening, p)
			held[p] = true
		}
	}
	for _, p := range Reserve(t, 100) {
		if held[p] {
			t.Fatalf("port %d handed out while another holder has it", p)
		}
	}
}
