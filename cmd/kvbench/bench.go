package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// config is one run's load shape.
type config struct {
	name       string
	endpoints  []string
	conns      int
	clients    int
	seqTotal   int
	putTotal   int
	rangeTotal int
	watchers   int
	watchPuts  int
	leaseTotal int
	keySize    int
	valSize    int
	keySpace   int
	opTimeout  time.Duration
	phaseLimit time.Duration
	out        string
}

// Phase is one measured phase.
type Phase struct {
	Clients   int     `json:"clients"`
	Ops       int     `json:"ops"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	AvgMs     float64 `json:"avg_ms"`
}

// Result is what `run` writes and `compare` reads.
type Result struct {
	Name     string `json:"name"`
	KeySize  int    `json:"key_size"`
	ValSize  int    `json:"val_size"`
	KeySpace int    `json:"key_space"`
	SeqPut   Phase  `json:"seq_put"`
	Put      Phase  `json:"put"`
	Range    Phase  `json:"range"`
	// Watch is the watch fan-out phase: Ops are events delivered,
	// latencies are put start → event received.
	Watch Phase `json:"watch_fanout"`
	// LeaseKeepAlive is the lease keep-alive phase.
	LeaseKeepAlive Phase `json:"lease_keepalive"`
}

func parseRun(args []string) (config, error) {
	var c config
	fs := pflag.NewFlagSet("kvbench run", pflag.ContinueOnError)
	fs.StringVar(&c.name, "name", "target", "Name of the system under test, for the report.")
	fs.StringSliceVar(&c.endpoints, "endpoints", []string{"127.0.0.1:2379"}, "Client endpoints.")
	fs.IntVar(&c.conns, "conns", 10, "gRPC connections shared by the clients (etcd benchmark's --conns).")
	fs.IntVar(&c.clients, "clients", 100, "Concurrent clients of the put and range phases.")
	fs.IntVar(&c.seqTotal, "seq-total", 1000, "Puts of the sequential latency phase.")
	fs.IntVar(&c.putTotal, "put-total", 20000, "Puts of the throughput phase.")
	fs.IntVar(&c.rangeTotal, "range-total", 20000, "Linearizable ranges of the range phase.")
	fs.IntVar(&c.watchers, "watchers", 100, "Watchers of the watch fan-out phase (one writer).")
	fs.IntVar(&c.watchPuts, "watch-puts", 1000, "Sequential puts of the watch fan-out phase.")
	fs.IntVar(&c.leaseTotal, "lease-total", 20000, "Lease keep-alives of the lease phase, over --clients clients.")
	fs.IntVar(&c.keySize, "key-size", 8, "Key size in bytes.")
	fs.IntVar(&c.valSize, "val-size", 256, "Value size in bytes.")
	fs.IntVar(&c.keySpace, "key-space", 10000, "Distinct keys written.")
	fs.DurationVar(&c.opTimeout, "op-timeout", 5*time.Second, "Bound on one request.")
	fs.DurationVar(&c.phaseLimit, "phase-limit", 60*time.Second, "Bound on one phase; it stops early and reports what it did.")
	fs.StringVar(&c.out, "out", "", "Write the JSON result here (default: stdout only).")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.conns < 1 || c.clients < 1 || c.seqTotal < 1 || c.putTotal < 1 || c.rangeTotal < 1 || c.watchers < 1 || c.watchPuts < 1 || c.leaseTotal < 1 || c.keySize < 8 || c.keySpace < 1 {
		return c, errors.New("counts must be >= 1 and --key-size >= 8")
	}
	return c, nil
}

func runBench(args []string, stdout, stderr io.Writer) error {
	c, err := parseRun(args)
	if err != nil {
		return err
	}
	clis, err := dial(c)
	if err != nil {
		return err
	}
	defer func() {
		for _, cli := range clis {
			_ = cli.Close()
		}
	}()
	val := strings.Repeat("v", c.valSize)
	put := func(cli *clientv3.Client, i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), c.opTimeout)
		defer cancel()
		_, err := cli.Put(ctx, key(c.keySize, i%c.keySpace), val)
		return err
	}
	get := func(cli *clientv3.Client, i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), c.opTimeout)
		defer cancel()
		_, err := cli.Get(ctx, key(c.keySize, i%c.keySpace))
		return err
	}
	r := Result{Name: c.name, KeySize: c.keySize, ValSize: c.valSize, KeySpace: c.keySpace}
	fmt.Fprintf(stderr, "kvbench %s: seq-put (1 client, %d puts)\n", c.name, c.seqTotal)
	r.SeqPut = phase(clis[:1], 1, c.seqTotal, c.phaseLimit, put)
	fmt.Fprintf(stderr, "kvbench %s: put (%d clients, %d puts)\n", c.name, c.clients, c.putTotal)
	r.Put = phase(clis, c.clients, c.putTotal, c.phaseLimit, put)
	fmt.Fprintf(stderr, "kvbench %s: range (%d clients, %d linearizable gets)\n", c.name, c.clients, c.rangeTotal)
	r.Range = phase(clis, c.clients, c.rangeTotal, c.phaseLimit, get)
	fmt.Fprintf(stderr, "kvbench %s: watch fan-out (1 writer, %d watchers, %d puts)\n", c.name, c.watchers, c.watchPuts)
	r.Watch = watchFanout(clis, c.watchers, c.watchPuts, c.valSize, c.opTimeout, c.phaseLimit)
	fmt.Fprintf(stderr, "kvbench %s: lease keep-alive (%d clients, %d keep-alives)\n", c.name, c.clients, c.leaseTotal)
	r.LeaseKeepAlive = leaseKeepAlive(clis, c.clients, c.leaseTotal, c.opTimeout, c.phaseLimit)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(b))
	if c.out != "" {
		return os.WriteFile(c.out, append(b, '\n'), 0o644)
	}
	return nil
}

func dial(c config) ([]*clientv3.Client, error) {
	var clis []*clientv3.Client
	for range c.conns {
		cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			for _, c := range clis {
				_ = c.Close()
			}
			return nil, err
		}
		clis = append(clis, cli)
	}
	return clis, nil
}

// key is the i-th key: a fixed-size big-endian counter, as etcd's
// benchmark --sequential-keys.
func key(size, i int) string {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b[size-8:], uint64(i))
	return string(b)
}

// phase runs total operations over `clients` goroutines (client j uses
// connection j % len(clis)), stopping early after limit. Latencies of
// successful operations make the percentiles; failures are counted.
func phase(clis []*clientv3.Client, clients, total int, limit time.Duration, op func(*clientv3.Client, int) error) Phase {
	var next, failed atomic.Int64
	lat := make([][]time.Duration, clients)
	deadline := time.Now().Add(limit)
	start := time.Now()
	var wg sync.WaitGroup
	for j := range clients {
		wg.Go(func() {
			cli := clis[j%len(clis)]
			for {
				i := int(next.Add(1)) - 1
				if i >= total || time.Now().After(deadline) {
					return
				}
				t := time.Now()
				if err := op(cli, i); err != nil {
					failed.Add(1)
					continue
				}
				lat[j] = append(lat[j], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return summarize(slices.Concat(lat...), int(failed.Load()), clients, elapsed)
}

func summarize(all []time.Duration, failed, clients int, elapsed time.Duration) Phase {
	slices.Sort(all)
	p := Phase{Clients: clients, Ops: len(all), Errors: failed, Seconds: elapsed.Seconds()}
	if len(all) == 0 {
		return p
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p.OpsPerSec = float64(len(all)) / elapsed.Seconds()
	p.P50Ms = ms(all[len(all)*50/100])
	p.P99Ms = ms(all[min(len(all)-1, len(all)*99/100)])
	p.AvgMs = ms(sum / time.Duration(len(all)))
	return p
}

// runWait blocks until a put succeeds through the endpoints (the cluster
// has a leader and commits), bounded by --timeout.
func runWait(args []string, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kvbench wait", pflag.ContinueOnError)
	endpoints := fs.StringSlice("endpoints", []string{"127.0.0.1:2379"}, "Client endpoints.")
	timeout := fs.Duration("timeout", 60*time.Second, "Give up after this long.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: *endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	deadline := time.Now().Add(*timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Put(ctx, "kvbench-wait", "1")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster at %v not writable after %v: %w", *endpoints, *timeout, err)
		}
		fmt.Fprintf(stderr, "kvbench wait: not writable yet (%v); retrying\n", err)
		time.Sleep(500 * time.Millisecond)
	}
}
