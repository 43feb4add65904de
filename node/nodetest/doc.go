// Package nodetest runs in-process clusters of real raft nodes
// (node/raftnode) on an in-memory, fault-injecting network, for tests:
// start N members in temp dirs, wait for a leader, crash and restart
// members (keeping or wiping their data), partition and heal, drive
// clients that record histories, and check them with porcupine against
// node/kvmodel's model. Every wait is bounded.
package nodetest
