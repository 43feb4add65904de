# kuberaft — the single entry point. `make help` lists the targets.
#
# Each concern keeps its targets in a fragment under hack/make/ (ordered by
# file name); a fragment appends to TEST_TARGETS what `make test` must run.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT    := $(CURDIR)
CACHE   ?= $(ROOT)/.cache
BIN     := $(ROOT)/bin
TOOLBIN := $(CACHE)/tools/bin
GO      ?= go
export GOFLAGS := -buildvcs=false
export PATH := $(TOOLBIN):$(PATH)

# Filled in by the fragments, in file-name order.
TEST_TARGETS :=
TEST_GO_DEPS :=
GENERATE_TARGETS :=
MANIFEST_TARGETS :=

include $(sort $(wildcard hack/make/*.mk))

.PHONY: help build test test-go lint verify generate manifests
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

build: ## Build every binary under cmd/ into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v -e '\.pb\.go$$' -e 'zz_generated')); \
	  if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

generate: $(GENERATE_TARGETS) ## Regenerate all generated code (protoc, controller-gen objects)

manifests: $(MANIFEST_TARGETS) ## Regenerate CRDs and RBAC under config/

test-go: $(TEST_GO_DEPS) ## Unit and envtest tests of every Go package
	$(GO) test -count=1 -timeout 40m ./...

test: $(TEST_TARGETS) ## The whole test suite (what CI runs)
	@echo "make test: all of $(TEST_TARGETS) passed"
