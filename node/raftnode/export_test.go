package raftnode

// BatchedProposals is how many proposals this node handed to raft in
// batches of two or more (batch.go).
func (n *Node) BatchedProposals() uint64 { return n.props.Batched() }
