//go:build tools

// Package pins holds the project's dependency choices in one place so that
// `go mod tidy` keeps them at the chosen versions before code imports them.
// Raft, etcd's API, client and storage packages come from one release line
// (raft v3.7, etcd v3.7: standard protobuf); controller-runtime v0.24 pairs
// with client-go v0.36 (Kubernetes 1.36, our target).
package pins

import (
	_ "github.com/anishathalye/porcupine"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/pflag"
	_ "go.etcd.io/etcd/api/v3/etcdserverpb"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	_ "go.etcd.io/etcd/server/v3/storage/wal"
	_ "go.etcd.io/raft/v3"
	_ "go.uber.org/zap"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/controller-runtime"
)
