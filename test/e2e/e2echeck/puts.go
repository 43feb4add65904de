package e2echeck

// PutResult is how a finished put enters a workload's checks.
type PutResult struct {
	Count   bool // part of the check window's figures (ops, failures, acks)
	Unknown bool // may or may not have taken effect
}

// ClassifyPut: an acknowledged put is known and counted; a failed one is
// counted and unknown. One cut off because the workload was stopping is not
// counted, but it is still unknown rather than absent: the server may have
// applied it, and the final read-back of its key joins the history.
// Dropping such puts made porcupine call a correct history Illegal (the
// first node-drain-under-load run on kind read back a value no recorded
// put had written).
func ClassifyPut(err error, stopping bool) PutResult {
	switch {
	case err == nil:
		return PutResult{Count: true}
	case stopping:
		return PutResult{Unknown: true}
	default:
		return PutResult{Count: true, Unknown: true}
	}
}
