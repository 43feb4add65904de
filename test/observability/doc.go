// Package observability checks what the chart ships for monitoring against
// what the components export: the Grafana dashboard parses, and the
// dashboard and the alert rules use only metric families that the node
// (node/metrics) or the operator (controllers/clustermetrics) export. The
// rules' behaviour is tested by promtool (make test-rules).
package observability
