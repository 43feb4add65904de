# Observability: promtool (built from its Go module, cached like the other
# tools) and the unit tests of the chart's alert rules. Sorted before the
# delivery fragment so `make test` runs these cheap checks before e2e.

# Prometheus v3.x is published as Go module v0.3xx.y (v0.316.0 = v3.16.0).
PROMTOOL_VERSION := v0.316.0
PROMTOOL := $(TOOLBIN)/promtool

.PHONY: tools-promtool test-rules

# install.sh rebuilds only when the cached binary is of another version.
tools-promtool: ## Build promtool from its Go module into .cache (idempotent)
	@hack/tools/promtool/install.sh "$(TOOLBIN)" $(PROMTOOL_VERSION)

test-rules: tools-promtool ## promtool check + test the chart's PrometheusRule alerts (charts/kuberaft/files/alerts)
	hack/tools/promtool/test-rules.sh "$(PROMTOOL)"

TEST_TARGETS += test-rules
