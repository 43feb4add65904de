# Observability: promtool (built from its Go module, cached like the other
# tools) and the unit tests of the chart's alert rules.

# Prometheus v3.x is published as Go module v0.3xx.y (v0.316.0 = v3.16.0).
PROMTOOL_VERSION := v0.316.0
PROMTOOL := $(TOOLBIN)/promtool
PROMTOOL_STAMP := $(CACHE)/tools/promtool-$(PROMTOOL_VERSION).stamp

.PHONY: tools-promtool test-rules

$(PROMTOOL_STAMP):
	hack/tools/promtool/install.sh "$(TOOLBIN)" $(PROMTOOL_VERSION)
	touch $@

tools-promtool: $(PROMTOOL_STAMP) ## Build promtool from its Go module into .cache (idempotent)

test-rules: tools-promtool ## promtool check + test the chart's PrometheusRule alerts (charts/kuberaft/files/alerts)
	hack/tools/promtool/test-rules.sh "$(PROMTOOL)"

TEST_TARGETS += test-rules
