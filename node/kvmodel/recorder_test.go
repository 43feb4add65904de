package kvmodel

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
)

func TestRecorderUnknownOutcomes(t *testing.T) {
	var h History
	call := h.Now()
	h.Add(1, Input{Op: OpPut, Key: "k", Value: "v"}, Output{Unknown: true}, call, call+1)
	h.Add(2, Input{Op: OpGet, Key: "k"}, Output{Unknown: true}, call, call+1)
	h.Add(3, Input{Op: OpGet, Key: "k"}, Output{Value: "v"}, call, call+2)
	ops := h.Operations()
	if len(ops) != 2 || h.Len() != 2 {
		t.Fatalf("recorded %d operations (Len %d), want 2: an unknown read observed nothing", len(ops), h.Len())
	}
	if ops[0].Return != math.MaxInt64 {
		t.Fatalf("unknown write returns at %d, want never (MaxInt64)", ops[0].Return)
	}
	if ops[1].Return != call+2 {
		t.Fatalf("known read returns at %d, want %d", ops[1].Return, call+2)
	}
	h.Rewrite(func(op *porcupine.Operation) bool {
		if op.Output.(Output).Unknown {
			op.Output = Output{}
			op.Return = call + 3
		}
		return op.ClientId != 3
	})
	if ops := h.Operations(); len(ops) != 1 || ops[0].ClientId != 1 || ops[0].Return != call+3 {
		t.Fatalf("after Rewrite: %+v, want client 1's write decided at %d", ops, call+3)
	}
	h.CheckLinearizable(t, 0)
}
