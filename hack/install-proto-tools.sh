#!/usr/bin/env bash
# Installs protoc (Debian's protobuf-compiler) and the pinned Go plugins into
# the given bin folder. Idempotent: a second run installs nothing.
set -euo pipefail
bin=$1 gen_go=$2 gen_grpc=$3
mkdir -p "$bin"
if ! command -v protoc >/dev/null; then
  echo "installing protobuf-compiler (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q protobuf-compiler >/dev/null
fi
stamp="$bin/.proto-plugins-$gen_go-$gen_grpc"
if [[ ! -f $stamp ]]; then
  echo "installing protoc-gen-go $gen_go and protoc-gen-go-grpc $gen_grpc"
  GOBIN=$bin go install "google.golang.org/protobuf/cmd/protoc-gen-go@$gen_go"
  GOBIN=$bin go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$gen_grpc"
  touch "$stamp"
fi
