// Command runcwrap is an OCI runtime that strips CAP_SYS_RESOURCE from a
// container's capability sets and then runs runc with the same arguments.
//
// Why: on the project's VMs root's bounding set lacks CAP_SYS_RESOURCE, so
// `docker run --privileged` (which asks for every capability) fails with
// "unable to apply caps: operation not permitted", and --cap-drop does not
// apply to --privileged. kind creates every node with --privileged and runs
// every node command through `docker exec --privileged`, so dockerd gets this
// wrapper as its default runtime (hack/kind/docker.sh). It edits the bundle's
// config.json on create/run and the --process file on exec; every other
// subcommand passes through untouched.
//
// Usage (as dockerd calls runc): runcwrap [global flags] SUBCOMMAND [flags] ID
// Environment: RUNCWRAP_RUNC, the runc to run (default: the first of
// /usr/sbin/runc, /usr/bin/runc, /usr/local/sbin/runc that exists).
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	runc, err := realRunc()
	if err == nil {
		err = stripFor(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "runcwrap:", err)
		os.Exit(1)
	}
	argv := append([]string{runc}, os.Args[1:]...)
	if err := syscall.Exec(runc, argv, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "runcwrap: exec", runc+":", err)
		os.Exit(1)
	}
}

// realRunc finds the runc binary this wrapper hands over to.
func realRunc() (string, error) {
	if p := os.Getenv("RUNCWRAP_RUNC"); p != "" {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no runc found (set RUNCWRAP_RUNC)")
}
