package e2echeck

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kuberaft/kuberaft/node/kvmodel"
)

func TestClassifyPut(t *testing.T) {
	failed := errors.New("deadline exceeded")
	for _, tc := range []struct {
		name     string
		err      error
		stopping bool
		want     PutResult
	}{
		{"acknowledged", nil, false, PutResult{Count: true}},
		{"acknowledged while stopping", nil, true, PutResult{Count: true}},
		{"failed", failed, false, PutResult{Count: true, Unknown: true}},
		{"cut off by the stop", context.Canceled, true, PutResult{Unknown: true}},
	} {
		if got := ClassifyPut(tc.err, tc.stopping); got != tc.want {
			t.Errorf("%s: ClassifyPut = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestCutOffPutStaysInHistory replays the shape of the drain run's history:
// a put cut off by the stop was applied, and the final read-back sees it.
// Recorded as unknown (what ClassifyPut says) the history is linearizable;
// dropped (what the workload did before) it is not.
func TestCutOffPutStaysInHistory(t *testing.T) {
	put := kvmodel.Input{Op: kvmodel.OpPut, Key: "k", Value: "c3-516"}
	acked := porcupine.Operation{ClientId: 0, Input: kvmodel.Input{Op: kvmodel.OpPut, Key: "k", Value: "c0-501"},
		Output: kvmodel.Output{}, Call: 0, Return: 10}
	final := porcupine.Operation{ClientId: 4, Input: kvmodel.Input{Op: kvmodel.OpGet, Key: "k"},
		Output: kvmodel.Output{Value: "c3-516"}, Call: 100, Return: 110}
	res := ClassifyPut(context.Canceled, true)
	if !res.Unknown {
		t.Fatalf("a cut-off put must be unknown, got %+v", res)
	}
	cutOff := porcupine.Operation{ClientId: 3, Input: put, Output: kvmodel.Output{Unknown: true}, Call: 20, Return: math.MaxInt64}
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"recorded as unknown", []porcupine.Operation{acked, cutOff, final}, porcupine.Ok},
		{"dropped", []porcupine.Operation{acked, final}, porcupine.Illegal},
	} {
		v, err := CheckLinearizable(tc.ops, 10*time.Second, "")
		if err != nil {
			t.Fatal(err)
		}
		if v.Result != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, v.Result, tc.want)
		}
	}
}
