package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// raftnodeBin is the binary built once for the whole package.
var raftnodeBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "proctest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "proctest:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	raftnodeBin = filepath.Join(dir, "raftnode")
	args := []string{"build", "-o", raftnodeBin}
	cgo := "CGO_ENABLED=0" // the static binary we ship
	if os.Getenv("PROCTEST_RACE") == "1" {
		// A race-detector build of raftnode (needs cgo), for a manual run:
		// PROCTEST_RACE=1 go test ./node/proctest
		args, cgo = append(args, "-race"), "CGO_ENABLED=1"
	}
	build := exec.Command("go", append(args, "github.com/kuberaft/kuberaft/cmd/raftnode")...)
	build.Env = append(os.Environ(), cgo)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "proctest: go build raftnode: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
