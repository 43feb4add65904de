package e2echeck

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kuberaft/kuberaft/node/kvmodel"
)

// Linearizability is the verdict on a history.
type Linearizability struct {
	Result  porcupine.CheckResult
	Ops     int // operations checked
	Elapsed time.Duration
}

// CheckLinearizable runs porcupine over ops with a time limit, using the
// node tests' key-value model (kvmodel.Model; record histories with
// kvmodel.History) so the node and the e2e suite check one specification.
// On Illegal and a non-empty vizPath it writes porcupine's HTML
// visualisation there.
func CheckLinearizable(ops []porcupine.Operation, timeout time.Duration, vizPath string) (Linearizability, error) {
	begin := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvmodel.Model, ops, timeout)
	v := Linearizability{Result: res, Ops: len(ops), Elapsed: time.Since(begin)}
	if res == porcupine.Illegal && vizPath != "" {
		if err := porcupine.VisualizePath(kvmodel.Model, info, vizPath); err != nil {
			return v, fmt.Errorf("write porcupine visualisation: %w", err)
		}
	}
	return v, nil
}
