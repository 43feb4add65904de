package raftnode_test

import (
	"github.com/kuberaft/kuberaft/node/raftnode"
	"github.com/kuberaft/kuberaft/node/server"
)

// The node must keep implementing the gRPC layer's Backend contract.
var _ server.Backend = (*raftnode.Node)(nil)
