// Command kvbench is the load generator of `make bench`: one binary, built on
// etcd's own client (go.etcd.io/etcd/client/v3), drives raftnode and etcd
// with the same keys, values and concurrency so the numbers compare.
//
//	kvbench run --endpoints=a,b,c --name=raftnode --out=raftnode.json
//	kvbench compare raftnode.json etcd.json
//	kvbench wait --endpoints=a,b,c --timeout=60s
//
// run measures five phases, each bounded in count and time:
//
//	seq-put  sequential put latency, 1 client (p50/p99)
//	put      put throughput, --clients concurrent clients
//	range    linearizable single-key range throughput, --clients clients
//	watch    watch fan-out: 1 writer, --watchers watchers; events/s and
//	         delivery latency (put start → event received)
//	lease    lease keep-alive throughput, --clients clients
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: kvbench run|compare|wait [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = runBench(args[1:], stdout, stderr)
	case "compare":
		err = runCompare(args[1:], stdout)
	case "wait":
		err = runWait(args[1:], stderr)
	default:
		err = fmt.Errorf("unknown command %q: want run, compare or wait", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "kvbench: %v\n", err)
		return 1
	}
	return 0
}
