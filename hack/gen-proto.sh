#!/usr/bin/env bash
# Regenerates the Go code of every .proto under node/api/. Each proto lives
# in its own package folder next to its generated *.pb.go.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t protos < <(find node/api -name '*.proto' | sort)
for p in "${protos[@]}"; do
  protoc -I . --go_out=. --go_opt=paths=source_relative \
    --go-grpc_out=. --go-grpc_opt=paths=source_relative "$p"
done
echo "generated ${#protos[@]} proto file(s)"
