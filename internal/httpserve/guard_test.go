package httpserve

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/metrics/metricstest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// DNS rebinding and cross-origin pages are refused on every method; the
// allow-lists let a proxy's host name and a trusted web app through.
func TestHostAndOriginChecks(t *testing.T) {
	h := start(t, func(o *Options, url string) {
		o.PublicURL = "https://mcp.example.com"
		o.AllowedHosts = []string{"internal.example:8080"}
		o.AllowedOrigins = []string{"https://app.example.com"}
	})
	port := strings.TrimPrefix(h.url, "http://127.0.0.1")
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"loopback", nil, 200},
		{"localhost with port", map[string]string{"Host": "localhost" + port}, 200},
		{"public host", map[string]string{"Host": "mcp.example.com"}, 200},
		{"allowed host, other port", map[string]string{"Host": "internal.example:9"}, 200},
		{"rebound name", map[string]string{"Host": "evil.example.com"}, 403},
		{"rebound name with our port", map[string]string{"Host": "evil.example.com" + port}, 403},
		{"cross-origin page", map[string]string{"Origin": "http://evil.example.com"}, 403},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example.com"}, 403},
		{"same origin", map[string]string{"Origin": h.url}, 200},
		{"public origin", map[string]string{"Host": "mcp.example.com", "Origin": "https://mcp.example.com"}, 200},
		{"trusted origin", map[string]string{"Origin": "https://app.example.com"}, 200},
	} {
		resp, body := h.post(t, initBody, tc.headers)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	// A GET event stream from another origin is refused too.
	req, _ := http.NewRequest(http.MethodGet, h.url+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Origin", "http://evil.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin GET: %d, want 403", resp.StatusCode)
	}
	// Host checks cover the other routes too.
	req, _ = http.NewRequest(http.MethodGet, h.url+"/metrics", nil)
	req.Host = "evil.example.com"
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("/metrics with a rebound Host: %d, want 403", resp.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	h := start(t, func(o *Options, _ string) { o.MaxBodyBytes = 4096 })
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"pad":"` + strings.Repeat("x", 5000) + `"}}}`
	resp, body := h.post(t, big, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("5 KB body with a 4 KB limit: %d %s", resp.StatusCode, body)
	}
	if resp, body := h.post(t, initBody, nil); resp.StatusCode != 200 {
		t.Errorf("small body: %d %s", resp.StatusCode, body)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	h := startWithTokens(t, func(o *Options, _ string) { o.RateLimit, o.RateBurst = 0.5, 2 })
	reader := map[string]string{"Authorization": "Bearer " + readerSecret}
	for i := range 2 {
		if resp, body := h.post(t, initBody, reader); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, _ := h.post(t, initBody, reader)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("over the limit: %d, Retry-After %q; want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Other tokens have their own bucket.
	if resp, body := h.post(t, initBody, map[string]string{"Authorization": "Bearer " + adminSecret}); resp.StatusCode != 200 {
		t.Errorf("another token: %d %s", resp.StatusCode, body)
	}
	if got := h.svc.Metrics().rateLimited.Value(); got != 1 {
		t.Errorf("rate-limited counted %d, want 1", got)
	}
}

func TestHealthReadyAndMetrics(t *testing.T) {
	var ledgerErr atomic.Pointer[error]
	h := start(t, func(o *Options, _ string) {
		o.Ready = []Check{
			{Name: "config", Check: func(context.Context) error { return nil }},
			{Name: "ledger", Check: func(context.Context) error {
				if p := ledgerErr.Load(); p != nil {
					return *p
				}
				return nil
			}},
		}
	})
	if resp, body := get(t, h.url+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, h.url+"/readyz"); resp.StatusCode != 200 || !strings.Contains(body, `"ledger":"ok"`) {
		t.Errorf("/readyz: %d %s", resp.StatusCode, body)
	}
	down := errors.New("ledger: connection refused")
	ledgerErr.Store(&down)
	resp, body := get(t, h.url+"/readyz")
	if resp.StatusCode != 503 || !strings.Contains(body, "connection refused") || !strings.Contains(body, `"config":"ok"`) {
		t.Errorf("/readyz with the ledger down: %d %s", resp.StatusCode, body)
	}

	// Calls in both eras show up in the metrics, which Prometheus's own
	// parser accepts.
	for _, proto := range []string{"", "2025-11-25"} {
		cs := h.connect(t, proto, "", nil)
		callTool(context.Background(), cs, tools.NameQueryPay, `{"outTradeNo":"NOPE1"}`)
		callTool(context.Background(), cs, tools.NameQueryPay, `{"outTradeNo":"bad no"}`)
	}
	_, text := get(t, h.url+"/metrics")
	metricstest.Promtool(t, []byte(text))
	for _, want := range []string{
		`mcp_tool_calls_total{tool="query-alipay-payment",outcome="invalid_input"} 2`,
		`mcp_tool_call_duration_seconds_count{tool="query-alipay-payment"} 4`,
		"mcp_sessions 1", // the 2025-11-25 session is still open
		`alipay_notifications_total{result="verified"} 0`,
		`webhook_deliveries_total{outcome="delivered"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, text)
		}
	}
}

// SIGTERM (ctx cancelled): readiness fails, new connections are refused,
// and a call in flight finishes with its real answer.
func TestGracefulShutdown(t *testing.T) {
	called := make(chan struct{}, 1)
	h := start(t, func(o *Options, _ string) {
		// Marks the call running on the server: a POST merely counted
		// in flight may be another (a session's notifications/initialized),
		// and a call sent after the drain begins is refused.
		o.Server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
			return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
				if method == "tools/call" {
					select {
					case called <- struct{}{}:
					default:
					}
				}
				return next(ctx, method, req)
			}
		})
	})
	// Idle sessions of both eras, whose streams must not hold up the end.
	h.connect(t, "", "", nil)
	h.connect(t, "2025-11-25", "", nil)
	stateful := h.connect(t, "2025-11-25", "", nil)
	if err := h.gw.SetFaults(localalipay.Faults{LatencyMS: 1500, Methods: []string{"alipay.trade.query"}}); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		text string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		res, err := callTool(context.Background(), stateful, tools.NameQueryPay, `{"outTradeNo":"SLOW1"}`)
		if err != nil {
			got <- answer{err: err}
			return
		}
		got <- answer{text: resultText(res)}
	}()
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not reach the server")
	}
	start := time.Now()
	h.stop()
	waitFor(t, 5*time.Second, "readiness to fail", func() bool { return h.svc.draining.Load() })
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Get(h.url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("a new connection was accepted while draining")
	}
	a := <-got
	if a.err != nil || !strings.Contains(a.text, "ACQ.TRADE_NOT_EXIST") {
		t.Fatalf("the call in flight: %v %q, want its real answer", a.err, a.text)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not stop after its calls finished")
	}
	h.done <- nil // for the cleanup
	if time.Since(start) > 5*time.Second {
		t.Errorf("shutdown took %v with nothing left to wait for", time.Since(start))
	}
	if _, err := http.Get(h.url + "/healthz"); err == nil {
		t.Error("the service still accepts connections")
	}
}
