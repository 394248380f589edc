package metrics

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/metrics/metricstest"
)

func TestWriteText(t *testing.T) {
	r := NewRegistry()
	calls := r.NewCounterVec("mcp_tool_calls_total", "Tool calls by tool and outcome.", "tool", "outcome")
	lat := r.NewHistogramVec("mcp_tool_call_duration_seconds", "Tool call latency.", []float64{0.1, 1}, "tool")
	r.NewGaugeFunc("mcp_sessions", "Open sessions.", func() float64 { return 3 })
	calls.Inc("b", "ok")
	calls.Add(2, "a", "tool_error")
	calls.Inc(`we"ird\`+"\n", "ok")
	lat.Observe(50*time.Millisecond, "a")
	lat.Observe(100*time.Millisecond, "a") // on a bound: le is inclusive
	lat.Observe(5*time.Second, "a")

	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	want := `# HELP mcp_tool_calls_total Tool calls by tool and outcome.
# TYPE mcp_tool_calls_total counter
mcp_tool_calls_total{tool="a",outcome="tool_error"} 2
mcp_tool_calls_total{tool="b",outcome="ok"} 1
mcp_tool_calls_total{tool="we\"ird\\\n",outcome="ok"} 1
# HELP mcp_tool_call_duration_seconds Tool call latency.
# TYPE mcp_tool_call_duration_seconds histogram
mcp_tool_call_duration_seconds_bucket{tool="a",le="0.1"} 2
mcp_tool_call_duration_seconds_bucket{tool="a",le="1"} 2
mcp_tool_call_duration_seconds_bucket{tool="a",le="+Inf"} 3
mcp_tool_call_duration_seconds_sum{tool="a"} 5.15
mcp_tool_call_duration_seconds_count{tool="a"} 3
# HELP mcp_sessions Open sessions.
# TYPE mcp_sessions gauge
mcp_sessions 3
`
	if got := buf.String(); got != want {
		t.Errorf("text format:\n%s\nwant:\n%s", got, want)
	}
	metricstest.Promtool(t, buf.Bytes())
}

func TestConcurrentUse(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounterVec("x_total", "x", "k")
	h := r.NewHistogramVec("y_seconds", "y", nil, "k")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Inc(string(rune('a' + i%2)))
				h.Observe(time.Millisecond, "k")
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			r.Write(&bytes.Buffer{})
		}
	})
	wg.Wait()
	if got := c.Value("a") + c.Value("b"); got != 8000 {
		t.Errorf("counter = %d, want 8000", got)
	}
	if got := h.Count("k"); got != 8000 {
		t.Errorf("histogram count = %d, want 8000", got)
	}
}
