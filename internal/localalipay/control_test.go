package localalipay_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

func control(t *testing.T, method, u, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, u, b)
	}
	return resp.StatusCode, out
}

func TestControlAPI(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	sink := newSink(t, func(n int) string { return "success" })
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.NotifyURL = sink.URL })
	ctx := ctxT(t)
	for _, otn := range []string{"K1", "K2", "K3"} {
		link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: otn, TotalAmount: 250, Subject: "control"})
		if _, err := localalipay.OpenLink(ctx, link); err != nil {
			t.Fatal(err)
		}
	}
	base := srv.URL() + "/_local"
	steps := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		check                    func(t *testing.T, out map[string]any)
	}{
		{"list", "GET", "/trades", "", nil, 200, func(t *testing.T, out map[string]any) {
			if n := len(out["trades"].([]any)); n != 3 {
				t.Fatalf("%d trades", n)
			}
		}},
		{"pay", "POST", "/trades/K1/pay", "", nil, 200, func(t *testing.T, out map[string]any) {
			tr := out["trade"].(map[string]any)
			if tr["trade_status"] != "TRADE_SUCCESS" || !strings.Contains(out["redirect_url"].(string), "/cashier/paid?") {
				t.Fatalf("%v", out)
			}
		}},
		{"close", "POST", "/trades/K2/close", "", nil, 200, func(t *testing.T, out map[string]any) {
			if out["trade_status"] != "TRADE_CLOSED" || out["close_reason"] != "closed" {
				t.Fatalf("%v", out)
			}
		}},
		{"expire", "POST", "/trades/K3/expire", "", nil, 200, func(t *testing.T, out map[string]any) {
			if out["trade_status"] != "TRADE_CLOSED" || out["close_reason"] != "expired" {
				t.Fatalf("%v", out)
			}
		}},
		{"close a paid trade", "POST", "/trades/K1/close", "", nil, 409, func(t *testing.T, out map[string]any) {
			if out["error"].(map[string]any)["code"] != "ACQ.TRADE_STATUS_ERROR" {
				t.Fatalf("%v", out)
			}
		}},
		{"unknown trade", "POST", "/trades/NOPE/pay", "", nil, 404, nil},
		{"faults", "POST", "/faults", `{"latency_ms":5,"methods":["alipay.trade.query"]}`, nil, 200, func(t *testing.T, out map[string]any) {
			if out["latency_ms"] != float64(5) {
				t.Fatalf("%v", out)
			}
		}},
		{"bad faults", "POST", "/faults", `{"http_502_rate":7}`, nil, 400, nil},
		{"unknown fault field", "POST", "/faults", `{"nope":1}`, nil, 400, nil},
		{"clear faults", "DELETE", "/faults", "", nil, 200, func(t *testing.T, out map[string]any) {
			if len(out) != 0 {
				t.Fatalf("%v", out)
			}
		}},
		{"foreign Host (DNS rebinding)", "GET", "/trades", "", map[string]string{"Host": "evil.example:8849"}, 403, nil},
		{"cross-site browser", "POST", "/trades/K1/pay", "", map[string]string{"Origin": "https://evil.example"}, 403, nil},
		{"credentials", "GET", "/credentials", "", nil, 200, func(t *testing.T, out map[string]any) {
			if out["AP_APP_ID"] != srv.Credentials().AppID || out["AP_GATEWAY_URL"] != srv.Credentials().GatewayURL {
				t.Fatalf("%v", out)
			}
		}},
		{"unknown endpoint", "GET", "/nope", "", nil, 404, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, out := control(t, st.method, base+st.path, st.body, st.hdr)
			if status != st.status {
				t.Fatalf("HTTP %d, want %d: %v", status, st.status, out)
			}
			if st.check != nil {
				st.check(t, out)
			}
		})
	}
	// Three notifications (paid, closed, expired) were delivered; a resend
	// sends one again with the same notify_id.
	seen := map[string]string{}
	for range 3 {
		n := sink.next(t)
		seen[n.Get("out_trade_no")] = n.Get("notify_id")
		t.Log(n.Get("out_trade_no"), n.Get("trade_status"))
	}
	status, _ := control(t, "POST", base+"/notifications/"+seen["K2"]+"/resend", "", nil)
	if status != 200 {
		t.Fatalf("resend: HTTP %d", status)
	}
	if n := sink.next(t); n.Get("notify_id") != seen["K2"] {
		t.Fatalf("resent %v", n)
	}
	status, out := control(t, "GET", base+"/trades/K2", "", nil)
	notes := out["notifications"].([]any)
	if status != 200 || len(notes) != 1 || notes[0].(map[string]any)["params"].(map[string]any)["trade_status"] != "TRADE_CLOSED" {
		t.Fatalf("trade detail: %v", out)
	}
}

// TestControlAPIRefusesBadInput: bad query parameters and JSON bodies are
// answered 400 with a bilingual message naming the field and what is
// allowed, never a Go type name.
func TestControlAPIRefusesBadInput(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	base := srv.URL() + "/_local"
	cases := []struct {
		name, method, path, body string
		has                      []string
	}{
		{"limit not a number", "GET", "/trades?limit=abc", "", []string{"limit", "1", "1000", "整数"}},
		{"limit negative", "GET", "/trades?limit=-5", "", []string{"limit", "1000"}},
		{"limit zero", "GET", "/trades?limit=0", "", []string{"limit"}},
		{"limit too large", "GET", "/trades?limit=99999999999999999999", "", []string{"limit", "1000"}},
		{"limit given twice", "GET", "/trades?limit=1&limit=2", "", []string{"limit"}},
		{"unknown query parameter", "GET", "/trades?limt=5", "", []string{"limt", "limit", "未知"}},
		{"query parameter on a trade", "GET", "/trades/X?x=1", "", []string{"x", "未知"}},
		{"unknown fault field", "POST", "/faults", `{"nope":1}`, []string{"nope", "latency_ms", "未知字段"}},
		{"fault of the wrong type", "POST", "/faults", `{"latency_ms":"5"}`, []string{"latency_ms", "整数", "integer"}},
		{"fractional latency", "POST", "/faults", `{"latency_ms":1.5}`, []string{"latency_ms", "integer"}},
		{"methods not strings", "POST", "/faults", `{"methods":[1]}`, []string{"methods", "string"}},
		{"empty body", "POST", "/faults", ``, []string{"JSON", "空"}},
		{"not an object", "POST", "/faults", `[1]`, []string{"JSON", "对象", "object"}},
		{"null body", "POST", "/faults", `null`, []string{"object"}},
		{"broken JSON", "POST", "/faults", `{"latency_ms":`, []string{"JSON"}},
		{"syntax error", "POST", "/faults", `{"latency_ms":5,}`, []string{"JSON", "语法"}},
		{"two objects", "POST", "/faults", `{} {}`, []string{"JSON", "一个"}},
		{"body too large", "POST", "/faults", `{"methods":["` + strings.Repeat("x", 70<<10) + `"]}`, []string{"64 KiB"}},
		{"pay-link without link", "POST", "/pay-link", `{}`, []string{"link", "缺少"}},
		{"pay-link link not a string", "POST", "/pay-link", `{"link":5}`, []string{"link", "字符串", "string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := control(t, tc.method, base+tc.path, tc.body, nil)
			if status != http.StatusBadRequest {
				t.Fatalf("HTTP %d, want 400: %v", status, out)
			}
			e, _ := out["error"].(map[string]any)
			msg, _ := e["message"].(string)
			for _, want := range tc.has {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if !hasHan(msg) || !hasLatinWord(msg) {
				t.Errorf("message %q is not Chinese + English", msg)
			}
			for _, leak := range []string{"Go value", "Go struct", "localalipay.", "json: "} {
				if strings.Contains(msg, leak) {
					t.Errorf("message %q leaks %q", msg, leak)
				}
			}
		})
	}
	// A good limit still works.
	if status, out := control(t, "GET", base+"/trades?limit=1000", "", nil); status != 200 || out["trades"] == nil {
		t.Fatalf("limit=1000: HTTP %d %v", status, out)
	}
}

// TestPayLinkRefusesForeignHosts: /_local/pay-link and PayLink fetch only
// this machine's local Alipay, never a foreign host (no DNS lookup either).
func TestPayLinkRefusesForeignHosts(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	other := startServer(t, localalipay.Options{}) // another loopback server
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL(), "http://"), ":")
	base := srv.URL() + "/_local"
	cases := []struct {
		name, link  string
		apiRefused  bool // by /_local/pay-link
		funcRefused bool // by PayLink
	}{
		{"foreign name", "http://evil.example/gateway.do?x=1", true, true},
		{"foreign name on our port", "http://evil.example:" + port + "/gateway.do", true, true},
		{"private address", "http://192.168.1.5:" + port + "/gateway.do", true, true},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data", true, true},
		{"unspecified address", "http://0.0.0.0:" + port + "/gateway.do", true, true},
		{"not http", "file:///etc/passwd", true, true},
		{"another loopback port", other.URL() + "/gateway.do", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(map[string]string{"link": tc.link})
			status, out := control(t, "POST", base+"/pay-link", string(b), nil)
			e, _ := out["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if tc.apiRefused {
				if status != http.StatusBadRequest || !hasHan(msg) || !hasLatinWord(msg) {
					t.Fatalf("pay-link: HTTP %d %v", status, out)
				}
				if strings.Contains(tc.name, "name") && strings.Contains(msg, "lookup") {
					t.Fatalf("pay-link looked the host up: %s", msg)
				}
			}
			_, err := localalipay.PayLink(ctxT(t), tc.link)
			if err == nil {
				t.Fatal("PayLink succeeded")
			}
			refused := errors.Is(err, localalipay.ErrForeignLink)
			if refused != tc.funcRefused {
				t.Fatalf("PayLink: %v (refused as foreign: %v, want %v)", err, refused, tc.funcRefused)
			}
			if refused && (!hasHan(err.Error()) || strings.Contains(err.Error(), "lookup")) {
				t.Fatalf("PayLink: %v", err)
			}
		})
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func hasLatinWord(s string) bool {
	n := 0
	for _, r := range s {
		if r >= 'a' && r <= 'z' {
			n++
			if n >= 3 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

// Trades returns as many trades as asked for, up to 1000: asking for more
// than 1000 never gives fewer than asking for 1000 would.
func TestTradesLimit(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	cl := newClient(t, srv.Credentials(), nil)
	ctx := ctxT(t)
	const n = 101
	for i := range n {
		link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: fmt.Sprintf("TL%d", i), TotalAmount: 1, Subject: "limit"})
		if _, err := localalipay.OpenLink(ctx, link); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit, want int
	}{{0, 100}, {1, 1}, {1000, n}, {1001, n}, {1 << 30, n}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			trades, err := srv.Trades(ctx, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(trades) != tt.want {
				t.Fatalf("Trades(%d) gave %d trades, want %d", tt.limit, len(trades), tt.want)
			}
			if trades[0].OutTradeNo != fmt.Sprintf("TL%d", n-1) {
				t.Errorf("first trade %s, want the newest", trades[0].OutTradeNo)
			}
		})
	}
}
