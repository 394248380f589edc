// Package metrics keeps counters, gauges and histograms in memory and writes
// them in the Prometheus text exposition format (version 0.0.4) for /metrics.
//
// It is written by hand rather than with prometheus/client_golang: the
// service has a handful of fixed metric families, the text format is small
// and stable, and client_golang would bring half a dozen modules (protobuf,
// client_model, common, procfs, xxhash…) into a binary that otherwise
// depends on little beyond the MCP SDK. The tests check the output with
// Prometheus's own promtool.
package metrics
