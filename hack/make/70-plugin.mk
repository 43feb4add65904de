# The kubectl plugin (cmd/kubectl-raft): install it, package it for krew.

# Where install-plugin puts kubectl-raft; kubectl finds plugins on PATH.
PLUGIN_DIR ?= $(shell $(GO) env GOPATH)/bin
PLUGIN_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: install-plugin plugin-dist

install-plugin: ## Build kubectl-raft into PLUGIN_DIR (default: go env GOPATH/bin); then `kubectl raft status NAME`
	mkdir -p "$(PLUGIN_DIR)"
	CGO_ENABLED=0 GOBIN="$(PLUGIN_DIR)" $(GO) install -trimpath ./cmd/kubectl-raft
	@case ":$$PATH:" in *":$(PLUGIN_DIR):"*) ;; *) echo "install-plugin: add $(PLUGIN_DIR) to PATH so kubectl finds kubectl-raft";; esac
	@echo "install-plugin: installed $(PLUGIN_DIR)/kubectl-raft"

plugin-dist: ## Archives of kubectl-raft per platform and a krew manifest for them in _output/plugin (PLUGIN_VERSION)
	hack/plugin/dist.sh "$(PLUGIN_VERSION)" _output/plugin
