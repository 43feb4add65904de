package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
)

// runCompare prints results side by side with ours/theirs ratios. For
// throughput a ratio > 1 means the first is faster; for latency < 1 does.
// With several pairs (one per round) it prints each round and then the
// per-metric median over the rounds, which a shared machine's load spikes
// move much less than any single round.
func runCompare(args []string, stdout io.Writer) error {
	if len(args) < 2 || len(args)%2 != 0 {
		return errors.New("usage: kvbench compare OURS.json THEIRS.json [OURS2.json THEIRS2.json ...]")
	}
	var ours, theirs []Result
	for i := 0; i < len(args); i += 2 {
		a, err := readResult(args[i])
		if err != nil {
			return err
		}
		b, err := readResult(args[i+1])
		if err != nil {
			return err
		}
		ours, theirs = append(ours, a), append(theirs, b)
	}
	for i := range ours {
		if len(ours) > 1 {
			fmt.Fprintf(stdout, "-- round %d\n", i+1)
		}
		writeComparison(stdout, ours[i], theirs[i])
	}
	if len(ours) > 1 {
		fmt.Fprintf(stdout, "-- median of %d rounds\n", len(ours))
		writeComparison(stdout, median(ours), median(theirs))
	}
	return nil
}

// median returns a Result whose every figure is the median of rs' figures
// (errors are summed).
func median(rs []Result) Result {
	out := rs[0]
	phases := func(r *Result) []*Phase { return []*Phase{&r.SeqPut, &r.Put, &r.Range, &r.Watch, &r.LeaseKeepAlive} }
	fields := func(ph *Phase) []*float64 { return []*float64{&ph.OpsPerSec, &ph.P50Ms, &ph.P99Ms, &ph.AvgMs} }
	for i, p := range phases(&out) {
		p.Errors = 0
		for k := range rs {
			p.Errors += phases(&rs[k])[i].Errors
		}
		for j, f := range fields(p) {
			var xs []float64
			for k := range rs {
				xs = append(xs, *fields(phases(&rs[k])[i])[j])
			}
			*f = medianOf(xs)
		}
	}
	return out
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func readResult(path string) (Result, error) {
	var r Result
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func writeComparison(w io.Writer, a, b Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\t%s\tratio %s/%s\t\n", a.Name, b.Name, a.Name, b.Name)
	row := func(name string, x, y float64) {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t\n", name, x, y, ratio(x, y))
	}
	row(fmt.Sprintf("seq put p50 ms (%d client)", a.SeqPut.Clients), a.SeqPut.P50Ms, b.SeqPut.P50Ms)
	row(fmt.Sprintf("seq put p99 ms (%d client)", a.SeqPut.Clients), a.SeqPut.P99Ms, b.SeqPut.P99Ms)
	row(fmt.Sprintf("put ops/s (%d clients)", a.Put.Clients), a.Put.OpsPerSec, b.Put.OpsPerSec)
	row("put p99 ms", a.Put.P99Ms, b.Put.P99Ms)
	row(fmt.Sprintf("linearizable range ops/s (%d clients)", a.Range.Clients), a.Range.OpsPerSec, b.Range.OpsPerSec)
	row("range p99 ms", a.Range.P99Ms, b.Range.P99Ms)
	row(fmt.Sprintf("watch events/s (1 writer, %d watchers)", a.Watch.Clients), a.Watch.OpsPerSec, b.Watch.OpsPerSec)
	row("watch delivery p50 ms", a.Watch.P50Ms, b.Watch.P50Ms)
	row("watch delivery p99 ms", a.Watch.P99Ms, b.Watch.P99Ms)
	row(fmt.Sprintf("lease keep-alives/s (%d clients)", a.LeaseKeepAlive.Clients), a.LeaseKeepAlive.OpsPerSec, b.LeaseKeepAlive.OpsPerSec)
	row("lease keep-alive p99 ms", a.LeaseKeepAlive.P99Ms, b.LeaseKeepAlive.P99Ms)
	fmt.Fprintf(tw, "errors (seq/put/range/watch/lease)\t%d/%d/%d/%d/%d\t%d/%d/%d/%d/%d\t\t\n",
		a.SeqPut.Errors, a.Put.Errors, a.Range.Errors, a.Watch.Errors, a.LeaseKeepAlive.Errors,
		b.SeqPut.Errors, b.Put.Errors, b.Range.Errors, b.Watch.Errors, b.LeaseKeepAlive.Errors)
	_ = tw.Flush()
}

func ratio(x, y float64) string {
	if y == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", x/y)
}
