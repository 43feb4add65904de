package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// runCompare prints two results side by side with ours/theirs ratios. For
// throughput a ratio > 1 means the first is faster; for latency < 1 does.
func runCompare(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: kvbench compare OURS.json THEIRS.json")
	}
	a, err := readResult(args[0])
	if err != nil {
		return err
	}
	b, err := readResult(args[1])
	if err != nil {
		return err
	}
	writeComparison(stdout, a, b)
	return nil
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
	fmt.Fprintf(tw, "errors (seq/put/range)\t%d/%d/%d\t%d/%d/%d\t\t\n",
		a.SeqPut.Errors, a.Put.Errors, a.Range.Errors, b.SeqPut.Errors, b.Put.Errors, b.Range.Errors)
	_ = tw.Flush()
}

func ratio(x, y float64) string {
	if y == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", x/y)
}
