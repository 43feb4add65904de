# The operator: controller-gen (deepcopy, CRD, RBAC), its build and tests.

# controller-tools v0.21 is the release built against k8s.io v0.36 (our line).
CONTROLLER_TOOLS_VERSION := v0.21.0
CONTROLLER_GEN := $(TOOLBIN)/controller-gen
CONTROLLER_GEN_STAMP := $(CACHE)/tools/controller-gen-$(CONTROLLER_TOOLS_VERSION).stamp

.PHONY: tools-controller-gen generate-operator manifests-operator build-operator test-operator

$(CONTROLLER_GEN_STAMP):
	mkdir -p $(TOOLBIN)
	GOBIN=$(TOOLBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	touch $@

tools-controller-gen: $(CONTROLLER_GEN_STAMP) ## Install controller-gen into .cache (idempotent)

generate-operator: tools-controller-gen ## Regenerate api/**/zz_generated.deepcopy.go
	$(CONTROLLER_GEN) object paths=./api/...

manifests-operator: tools-controller-gen ## Regenerate the CRD (config/crd/bases) and RBAC (config/rbac/role.yaml)
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths=./api/... paths=./controllers/... \
	  output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

build-operator: ## Build the operator statically into bin/operator
	CGO_ENABLED=0 $(GO) build -o $(BIN)/operator ./cmd/operator

test-operator: $(TEST_GO_DEPS) ## Unit and envtest tests of the operator packages only
	$(GO) test -count=1 -timeout 15m ./api/... ./controllers/... ./cmd/operator/...

GENERATE_TARGETS += generate-operator
MANIFEST_TARGETS += manifests-operator
