# Code generation and the checks that run first in `make test`.

PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.1

.PHONY: tools-proto generate-proto verify
tools-proto: ## Install protoc (Debian) and the Go protoc plugins into .cache
	@hack/install-proto-tools.sh "$(TOOLBIN)" $(PROTOC_GEN_GO_VERSION) $(PROTOC_GEN_GO_GRPC_VERSION)

generate-proto: tools-proto ## Regenerate every *.pb.go from node/api/**/*.proto
	hack/gen-proto.sh

GENERATE_TARGETS += generate-proto

verify: ## Fail when generated code or manifests are stale
	hack/verify-generated.sh

TEST_TARGETS += verify lint test-go
