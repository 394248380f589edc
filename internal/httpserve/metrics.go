package httpserve

import (
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/metrics"
)

// Metrics are the service's Prometheus metrics. Make them with NewMetrics
// before the MCP server (its tool-call hook is ObserveCall) and pass them in
// Options. Notification and webhook counters are for the receiver and the
// webhook sender to count with.
type Metrics struct {
	reg *metrics.Registry

	toolCalls   *metrics.CounterVec
	toolLatency *metrics.HistogramVec
	// Notifications counts Alipay payment notifications by result:
	// received (every post), then one of verified, duplicate, rejected
	// (failed a check) or failed (could not be recorded; Alipay retries).
	Notifications *metrics.CounterVec
	// Webhooks counts paid-webhook deliveries by outcome: delivered, failed.
	Webhooks    *metrics.CounterVec
	authFailed  *metrics.CounterVec
	rateLimited *metrics.CounterVec

	sessions func() (stateful, streams int)
}

// NewMetrics makes the metric families, every label value known in advance
// at zero so that dashboards see the series before the first event.
func NewMetrics() *Metrics {
	r := metrics.NewRegistry()
	m := &Metrics{reg: r}
	m.toolCalls = r.NewCounterVec("mcp_tool_calls_total", "MCP tool calls by tool and outcome (ok, asked, invalid_input, refused, tool_error).", "tool", "outcome")
	m.toolLatency = r.NewHistogramVec("mcp_tool_call_duration_seconds", "MCP tool call latency in seconds, by tool.", nil, "tool")
	r.NewGaugeFunc("mcp_sessions", "Open stateful MCP sessions (protocol revisions before 2026-07-28).", func() float64 {
		if m.sessions == nil {
			return 0
		}
		s, _ := m.sessions()
		return float64(s)
	})
	r.NewGaugeFunc("mcp_stateless_requests_in_flight", "Stateless (2026-07-28) MCP requests in progress, long-lived subscriptions/listen streams included.", func() float64 {
		if m.sessions == nil {
			return 0
		}
		_, n := m.sessions()
		return float64(n)
	})
	m.Notifications = r.NewCounterVec("alipay_notifications_total", "Alipay payment notifications by result: received (every post), then one of verified, duplicate, rejected, failed.", "result")
	for _, res := range []string{"received", "verified", "duplicate", "rejected", "failed"} {
		m.Notifications.Add(0, res)
	}
	m.Webhooks = r.NewCounterVec("webhook_deliveries_total", "Paid-webhook deliveries by outcome: delivered, failed.", "outcome")
	for _, o := range []string{"delivered", "failed"} {
		m.Webhooks.Add(0, o)
	}
	m.authFailed = r.NewCounterVec("http_auth_failures_total", "Requests refused for a missing or invalid bearer token.")
	m.authFailed.Add(0)
	m.rateLimited = r.NewCounterVec("http_rate_limited_total", "Requests refused with 429 by the per-token rate limit.")
	m.rateLimited.Add(0)
	return m
}

// ObserveCall counts one tool call; it is tools.Options.OnCall.
func (m *Metrics) ObserveCall(tool, outcome string, d time.Duration) {
	m.toolCalls.Inc(tool, outcome)
	m.toolLatency.Observe(d, tool)
}
