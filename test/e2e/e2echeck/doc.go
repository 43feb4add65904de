// Package e2echeck holds the pure checks the end-to-end suite applies to what
// it recorded on a live cluster: linearizability of a key-value client
// history (porcupine, with node/kvmodel), acknowledged writes that
// went missing, the longest gap between acknowledged writes, and the raft
// configurations seen in node status samples (never 4 voters; upgrade order
// leader-last).
//
// It has no build tag and no cluster dependency, so its table tests run in
// `make test-go`; test/e2e (build tag e2e) feeds it real recordings.
package e2echeck
