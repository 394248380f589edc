package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// connect serves the tools over in-memory transports and returns a client
// session on the newest protocol, so calls go through the SDK exactly as
// over stdio.
func connect(t *testing.T, o Options) *mcp.ClientSession {
	t.Helper()
	return connectClient(t, o, nil, "")
}

// connectClient serves the tools in memory to a client with opts, on
// protocol version proto ("" = newest).
func connectClient(t *testing.T, o Options, opts *mcp.ClientOptions, proto string) *mcp.ClientSession {
	t.Helper()
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "0"}, opts).Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: proto})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	want := proto
	if want == "" {
		want = "2026-07-28"
	}
	if got := cs.InitializeResult().ProtocolVersion; got != want {
		t.Fatalf("negotiated %s, want %s", got, want)
	}
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args string) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: json.RawMessage(args)})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", name, err)
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// structured returns the structured content re-encoded as JSON text.
func structured(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantError(t *testing.T, res *mcp.CallToolResult, subs ...string) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want a tool error, got success: %s", text(res))
	}
	if res.StructuredContent != nil {
		t.Errorf("error result carries structuredContent: %v", res.StructuredContent)
	}
	wantText(t, res, subs...)
}

// wantText fails for each of subs the result's text lacks.
func wantText(t *testing.T, res *mcp.CallToolResult, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text(res), s) {
			t.Errorf("text lacks %q:\n%s", s, text(res))
		}
	}
}

func wantOK(t *testing.T, res *mcp.CallToolResult) {
	t.Helper()
	if res.IsError {
		t.Fatalf("want success, got error: %s", text(res))
	}
}

func TestCreateLinks(t *testing.T) {
	d, g := newDeps(t, func(string, map[string]any) answer { return ok("") })
	var logBuf bytes.Buffer
	cs := connect(t, Options{Deps: d, Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	for _, tc := range []struct{ tool, method, product string }{
		{NameWebPagePay, "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"},
		{NameMobilePay, "alipay.trade.wap.pay", "QUICK_WAP_WAY"},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			res := call(t, cs, tc.tool, `{"outTradeNo":"ILL-001","totalAmount":19.99,"orderTitle":"定制插画 Custom illustration"}`)
			wantOK(t, res)
			var out struct{ URL string }
			if err := json.Unmarshal([]byte(structured(t, res)), &out); err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(out.URL)
			if err != nil || u.Scheme != "http" {
				t.Fatalf("url %q is not a plain URL: %v", out.URL, err)
			}
			q := u.Query()
			if q.Get("method") != tc.method || q.Get("sign") == "" {
				t.Errorf("link method=%q sign=%q", q.Get("method"), q.Get("sign"))
			}
			var biz map[string]string
			if err := json.Unmarshal([]byte(q.Get("biz_content")), &biz); err != nil {
				t.Fatal(err)
			}
			if biz["total_amount"] != "19.99" || biz["product_code"] != tc.product || biz["out_trade_no"] != "ILL-001" {
				t.Errorf("biz_content %v", biz)
			}
			if !strings.Contains(text(res), "[点击支付 / Pay]("+out.URL+")") {
				t.Errorf("text lacks the Markdown link:\n%s", text(res))
			}
		})
	}
	if len(g.methods()) != 0 {
		t.Errorf("link creation called the gateway: %v", g.methods())
	}
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"outcome":"ok"`) || !strings.Contains(lines[0], `"outTradeNo":"ILL-001"`) ||
		strings.Contains(logBuf.String(), "sign=") || strings.Contains(logBuf.String(), "http") {
		t.Errorf("log lines:\n%s", logBuf.String())
	}
}

func TestQueryPayment(t *testing.T) {
	tests := []struct {
		name  string
		reply answer
		check func(t *testing.T, res *mcp.CallToolResult)
	}{
		{"paid", ok(`"trade_no":"2026112522001400000000000001","out_trade_no":"ILL-1","trade_status":"TRADE_SUCCESS","total_amount":"19.99","send_pay_date":"2026-11-25 10:00:00"`),
			func(t *testing.T, res *mcp.CallToolResult) {
				wantOK(t, res)
				if got := structured(t, res); got != `{"totalAmount":19.99,"tradeNo":"2026112522001400000000000001","tradeStatus":"TRADE_SUCCESS"}` {
					t.Errorf("structured %s", got)
				}
				wantText(t, res, "TRADE_SUCCESS", "¥19.99", "2026112522001400000000000001", "Paid")
			}},
		{"waiting", ok(`"trade_no":"2026112522001400000000000002","trade_status":"WAIT_BUYER_PAY","total_amount":"0.07"`),
			func(t *testing.T, res *mcp.CallToolResult) {
				wantOK(t, res)
				if !strings.Contains(structured(t, res), `"totalAmount":0.07`) || !strings.Contains(text(res), "not paid yet") {
					t.Errorf("%s / %s", structured(t, res), text(res))
				}
			}},
		{"not exist", fail("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在"),
			func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在", "has not opened the payment link")
			}},
		{"system error", fail("20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙"),
			func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "20000", "isp.unknow-error", "outcome is unknown")
			}},
		{"tampered", answer{inner: `{"code":"10000","msg":"Success","trade_no":"2026","trade_status":"TRADE_SUCCESS","total_amount":"19.99"}`, tamper: true},
			func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "NOT trusted", "AP_PUB_KEY")
			}},
		{"incomplete", ok(`"trade_status":"TRADE_SUCCESS","total_amount":"19.99"`),
			func(t *testing.T, res *mcp.CallToolResult) { wantError(t, res, "incomplete", "trade_no") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newDeps(t, func(method string, biz map[string]any) answer {
				if method != "alipay.trade.query" || biz["out_trade_no"] != "ILL-1" {
					t.Errorf("unexpected call %s %v", method, biz)
				}
				return tt.reply
			})
			tt.check(t, call(t, connect(t, Options{Deps: d}), NameQueryPay, `{"outTradeNo":"ILL-1"}`))
		})
	}
}

// paidTrade answers queries for a paid ¥199.00 trade and refunds with r.
func paidTrade(r answer) func(string, map[string]any) answer {
	return func(method string, _ map[string]any) answer {
		if method == "alipay.trade.query" {
			return ok(`"trade_no":"2026112522001400000000000009","trade_status":"TRADE_SUCCESS","total_amount":"199.00"`)
		}
		return r
	}
}

func TestRefund(t *testing.T) {
	const args = `{"outTradeNo":"ILL-9","refundAmount":50,"outRequestNo":"ILL-9-R1","refundReason":"部分退款"}`
	tests := []struct {
		name      string
		reply     func(string, map[string]any) answer
		args      string
		max       int64
		wantCalls string
		check     func(t *testing.T, res *mcp.CallToolResult)
	}{
		{"money moved", paidTrade(ok(`"trade_no":"2026112522001400000000000009","fund_change":"Y","refund_fee":"50.00"`)), args, 0,
			"alipay.trade.query,alipay.trade.refund", func(t *testing.T, res *mcp.CallToolResult) {
				wantOK(t, res)
				if got := structured(t, res); got != `{"refundResult":"`+RefundResultSuccess+`","tradeNo":"2026112522001400000000000009"}` {
					t.Errorf("structured %s", got)
				}
				if !strings.Contains(text(res), "Refund succeeded") || !strings.Contains(text(res), "¥50.00") {
					t.Errorf("text %s", text(res))
				}
			}},
		{"discordant", paidTrade(fail("40004", "Business Failed", "ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求")), args, 0,
			"alipay.trade.query,alipay.trade.refund", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "ACQ.DISCORDANT_REPEAT_REQUEST", "another amount")
			}},
		{"too much remains", paidTrade(fail("40004", "Business Failed", "ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")), args, 0,
			"alipay.trade.query,alipay.trade.refund", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "ACQ.REASON_TRADE_REFUND_FEE_ERR", "more than what remains")
			}},
		{"unknown outcome", paidTrade(fail("40004", "Business Failed", "ACQ.SYSTEM_ERROR", "系统错误")), args, 0,
			"alipay.trade.query,alipay.trade.refund", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "ACQ.SYSTEM_ERROR", "SAME outRequestNo")
			}},
		{"tampered refund answer", paidTrade(answer{inner: `{"code":"10000","msg":"Success","trade_no":"2026","fund_change":"Y"}`, tamper: true}), args, 0,
			"alipay.trade.query,alipay.trade.refund", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "NOT trusted", "SAME outRequestNo")
			}},
		{"more than paid", paidTrade(ok("")), `{"outTradeNo":"ILL-9","refundAmount":199.01,"outRequestNo":"R2"}`, 0,
			"alipay.trade.query", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "¥199.01", "¥199.00", "refund API was not called")
			}},
		{"not paid", func(string, map[string]any) answer {
			return ok(`"trade_no":"2026112522001400000000000009","trade_status":"WAIT_BUYER_PAY","total_amount":"199.00"`)
		}, args, 0, "alipay.trade.query", func(t *testing.T, res *mcp.CallToolResult) {
			wantError(t, res, "WAIT_BUYER_PAY")
		}},
		{"no trade", func(string, map[string]any) answer {
			return fail("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
		}, args, 0, "alipay.trade.query", func(t *testing.T, res *mcp.CallToolResult) {
			wantError(t, res, "ACQ.TRADE_NOT_EXIST", "nothing to refund")
		}},
		{"above cap", paidTrade(ok("")), args, 4999, "", func(t *testing.T, res *mcp.CallToolResult) {
			wantError(t, res, "AP_REFUND_MAX_AMOUNT", "¥49.99")
		}},
		{"at cap", paidTrade(ok(`"trade_no":"2026112522001400000000000009","fund_change":"Y","refund_fee":"50.00"`)), args, 5000,
			"alipay.trade.query,alipay.trade.refund", func(t *testing.T, res *mcp.CallToolResult) { wantOK(t, res) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, g := newDeps(t, tt.reply)
			d.RefundMax = alipayAmount(tt.max)
			res := call(t, connect(t, Options{Deps: d}), NameRefundPay, tt.args)
			tt.check(t, res)
			if got := strings.Join(g.methods(), ","); got != tt.wantCalls {
				t.Errorf("gateway calls %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

func TestQueryRefund(t *testing.T) {
	tests := []struct {
		name  string
		reply answer
		check func(t *testing.T, res *mcp.CallToolResult)
	}{
		{"refunded", ok(`"trade_no":"2026112522001400000000000009","out_trade_no":"ILL-9","out_request_no":"R1","total_amount":"199.00","refund_amount":"0.29","refund_status":"REFUND_SUCCESS","gmt_refund_pay":"2026-11-25 10:05:00"`),
			func(t *testing.T, res *mcp.CallToolResult) {
				wantOK(t, res)
				if got := structured(t, res); got != `{"refundAmount":0.29,"refundStatus":"REFUND_SUCCESS","tradeNo":"2026112522001400000000000009"}` {
					t.Errorf("structured %s", got)
				}
			}},
		{"not found", ok(`"trade_no":"2026112522001400000000000009","out_trade_no":"ILL-9"`),
			func(t *testing.T, res *mcp.CallToolResult) { wantError(t, res, "No refund found", "SAME outRequestNo") }},
		{"no trade", fail("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在"),
			func(t *testing.T, res *mcp.CallToolResult) { wantError(t, res, "ACQ.TRADE_NOT_EXIST") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := newDeps(t, func(string, map[string]any) answer { return tt.reply })
			tt.check(t, call(t, connect(t, Options{Deps: d}), NameRefundQuery, `{"outTradeNo":"ILL-9","outRequestNo":"R1"}`))
		})
	}
}

func TestSelectedToolsAndBadInputKeepServing(t *testing.T) {
	d, _ := newDeps(t, func(string, map[string]any) answer {
		return ok(`"trade_no":"2026112522001400000000000001","trade_status":"TRADE_SUCCESS","total_amount":"1.00"`)
	})
	cs := connect(t, Options{Deps: d, Tools: []string{NameQueryPay, NameWebPagePay}})
	lt, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != NameWebPagePay+","+NameQueryPay {
		t.Errorf("tools %v", names)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: NameRefundPay, Arguments: map[string]any{}}); err == nil {
		t.Error("calling an unselected tool succeeded")
	}
	wantError(t, call(t, cs, NameQueryPay, `{"outTradeNo":"`+strings.Repeat("x", 65)+`"}`), "outTradeNo:", "64")
	wantOK(t, call(t, cs, NameQueryPay, `{"outTradeNo":"X1"}`))
	if _, err := NewServer(Options{Tools: []string{"nope"}}); err == nil {
		t.Error("NewServer accepted an unknown tool")
	}
}

func TestServerAdvertisesToolsAndInstructions(t *testing.T) {
	cs := connect(t, Options{Deps: Deps{}})
	init := cs.InitializeResult()
	if init.Capabilities.Tools == nil || init.Capabilities.Logging != nil || init.Capabilities.Resources != nil {
		t.Errorf("capabilities %+v", init.Capabilities)
	}
	for _, s := range []string{"create-web-page-alipay-payment", "create-mobile-alipay-payment", "outTradeNo must come from the merchant", "fresh outRequestNo", "ACQ.TRADE_NOT_EXIST"} {
		if !strings.Contains(init.Instructions, s) {
			t.Errorf("instructions lack %q", s)
		}
	}
}
