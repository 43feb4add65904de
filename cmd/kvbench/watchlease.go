package main

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchPrefix is where the watch fan-out phase writes.
const watchPrefix = "kvbench-watch/"

// drainLimit bounds how long the watch phase waits, after its last put,
// for the watchers to receive what was written.
const drainLimit = 10 * time.Second

// watchFanout is the watch phase (as etcd's `benchmark watch-latency`):
// `watchers` watchers on one prefix, spread over the connections, and one
// writer that puts `puts` values one after another. Each value carries
// its put's start time, so a delivery's latency is put start → event
// received (commit and fan-out). Ops is events delivered over all
// watchers, OpsPerSec events/s from the first put to the last delivery.
func watchFanout(clis []*clientv3.Client, watchers, puts, valSize int, opTimeout, limit time.Duration) Phase {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var failed, delivered atomic.Int64
	lat := make([][]time.Duration, watchers)
	var ready, wg sync.WaitGroup
	ready.Add(watchers)
	for j := range watchers {
		wg.Go(func() {
			lat[j] = watchAll(ctx, clis[j%len(clis)], &ready, &failed, &delivered)
		})
	}
	ready.Wait()
	start := time.Now()
	written := writeTimestamped(ctx, clis[0], puts, valSize, opTimeout, &failed)
	drainUntil := time.Now().Add(drainLimit)
	for delivered.Load() < written*int64(watchers) && time.Now().Before(drainUntil) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	return summarize(slices.Concat(lat...), int(failed.Load()), watchers, elapsed)
}

// watchAll watches watchPrefix until ctx ends and returns each event's
// delivery latency. ready is marked once the watch is created (or failed).
func watchAll(ctx context.Context, cli *clientv3.Client, ready *sync.WaitGroup, failed, delivered *atomic.Int64) []time.Duration {
	wch := cli.Watch(ctx, watchPrefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	first, ok := <-wch
	ready.Done()
	if !ok || first.Err() != nil {
		failed.Add(1)
		return nil
	}
	var lat []time.Duration
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				failed.Add(1)
			}
			return lat
		}
		now := time.Now()
		for _, ev := range resp.Events {
			if len(ev.Kv.Value) >= 8 {
				lat = append(lat, now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(ev.Kv.Value)))))
			}
		}
		delivered.Add(int64(len(resp.Events)))
	}
	return lat
}

// writeTimestamped puts n values one after another, each starting with
// the put's start time, and returns how many succeeded.
func writeTimestamped(ctx context.Context, cli *clientv3.Client, n, valSize int, opTimeout time.Duration, failed *atomic.Int64) int64 {
	val := []byte(strings.Repeat("v", max(valSize, 8)))
	var ok int64
	for i := 0; i < n && ctx.Err() == nil; i++ {
		binary.BigEndian.PutUint64(val, uint64(time.Now().UnixNano()))
		pctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := cli.Put(pctx, watchPrefix+key(8, i), string(val))
		cancel()
		if err != nil {
			failed.Add(1)
			continue
		}
		ok++
	}
	return ok
}

// leaseKeepAlive is the lease phase (as etcd's `benchmark lease-keepalive`):
// one lease per client, then `total` keep-alives (LeaseKeepAlive stream,
// one request and its answer each) over `clients` clients.
func leaseKeepAlive(clis []*clientv3.Client, clients, total int, opTimeout, limit time.Duration) Phase {
	ids := make([]clientv3.LeaseID, clients)
	for j := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		resp, err := clis[j%len(clis)].Grant(ctx, 600)
		cancel()
		if err != nil {
			// No lease service: report the phase as failed, not measured.
			return Phase{Clients: clients, Errors: 1}
		}
		ids[j] = resp.ID
	}
	defer revokeAll(clis[0], ids, opTimeout)
	return phase(clis, clients, total, limit, func(cli *clientv3.Client, i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		_, err := cli.KeepAliveOnce(ctx, ids[i%len(ids)])
		return err
	})
}

func revokeAll(cli *clientv3.Client, ids []clientv3.LeaseID, opTimeout time.Duration) {
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, _ = cli.Revoke(ctx, id) // best effort: the leases expire anyway
		cancel()
	}
}
