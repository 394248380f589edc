package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// tools/list over stdio equals the committed snapshots, tool for tool,
// every tool served (closePay is opt-in).
func TestToolsListMatchesSnapshots(t *testing.T) {
	s := newEnv(t, map[string]string{"AP_SELECT_TOOLS": "all,closePay"}).connect(t)
	lt, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Tools) != 9 {
		t.Fatalf("%d tools listed, want 9", len(lt.Tools))
	}
	for _, tl := range lt.Tools {
		t.Run(tl.Name, func(t *testing.T) {
			snap, err := os.ReadFile(filepath.Join("..", "..", "internal", "tools", "__toolsnaps__", tl.Name+".snap"))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(tl)
			var a, b any
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(snap, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("tools/list entry differs from the snapshot:\n%s", got)
			}
		})
	}
	init := s.InitializeResult()
	if init.Capabilities.Tools == nil || init.Capabilities.Logging != nil || !strings.Contains(init.Instructions, "create-mobile-alipay-payment") {
		t.Errorf("initialize: capabilities %+v, instructions %q", init.Capabilities, init.Instructions)
	}
}

// The illustrator's story through the binary in local mode.
func TestWholeFlow(t *testing.T) {
	s := newEnv(t, nil).connect(t)
	no := orderNo("FLOW")
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":199.00,"orderTitle":"定制插画 Custom illustration"}`)
	mustOK(t, res)
	link := structuredField(res, "url")
	if !strings.HasPrefix(link, "http://127.0.0.1:") || !strings.Contains(resText(res), "[点击支付 / Pay]("+link+")") {
		t.Fatalf("link %q / text %s", link, resText(res))
	}
	mustToolError(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`), "ACQ.TRADE_NOT_EXIST", "has not opened the payment link")

	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatalf("PayLink: %v", err)
	}
	res = s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`)
	mustOK(t, res)
	if structuredField(res, "tradeStatus") != "TRADE_SUCCESS" || structuredField(res, "totalAmount") != "199.00" || structuredField(res, "tradeNo") == "" {
		t.Fatalf("query: %v", res.StructuredContent)
	}

	refund := `{"outTradeNo":"` + no + `","refundAmount":50.00,"outRequestNo":"` + no + `-R1"}`
	res = s.call(t, tools.NameRefundPay, refund)
	mustOK(t, res)
	if structuredField(res, "refundResult") != tools.RefundResultSuccess {
		t.Fatalf("refund: %v", res.StructuredContent)
	}
	// The same outRequestNo again: Alipay refunds nothing more; the refund
	// query confirms the refund is done, and we say it moved once.
	res = s.call(t, tools.NameRefundPay, refund)
	mustOK(t, res)
	if structuredField(res, "refundResult") != tools.RefundResultSuccess || !strings.Contains(resText(res), "never twice") ||
		!strings.Contains(resText(res), "refunded on this order so far: ¥50.00") {
		t.Errorf("repeated refund: %v\n%s", res.StructuredContent, resText(res))
	}
	// The same outRequestNo with another amount: the ledger knows it, and
	// refuses before the refund API (Alipay would answer
	// ACQ.DISCORDANT_REPEAT_REQUEST).
	mustToolError(t, s.call(t, tools.NameRefundPay, `{"outTradeNo":"`+no+`","refundAmount":60,"outRequestNo":"`+no+`-R1"}`),
		"refund API", "was recorded as 50.00 yuan")
	// More than the order: refused before the refund API is called.
	mustToolError(t, s.call(t, tools.NameRefundPay, `{"outTradeNo":"`+no+`","refundAmount":199.01,"outRequestNo":"`+no+`-R2"}`),
		"refund API was not called")
	// More than what remains (149.00 left after R1): refused before the
	// refund API is called, from this server's own refund history.
	mustToolError(t, s.call(t, tools.NameRefundPay, `{"outTradeNo":"`+no+`","refundAmount":150.01,"outRequestNo":"`+no+`-R3"}`),
		"remains refundable: ¥149.00", "refund API was not called")

	res = s.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no+`","outRequestNo":"`+no+`-R1"}`)
	mustOK(t, res)
	if structuredField(res, "refundStatus") != "REFUND_SUCCESS" || structuredField(res, "refundAmount") != "50.00" {
		t.Fatalf("refund query: %v", res.StructuredContent)
	}
	mustToolError(t, s.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no+`","outRequestNo":"`+no+`-R9"}`), "No refund found")
}

// Amounts that float validators get wrong are accepted and echoed exactly,
// on the wire as well as in the texts.
func TestExactAmounts(t *testing.T) {
	s := newEnv(t, nil).connect(t)
	for _, amt := range []string{"19.99", "0.07", "0.29"} {
		t.Run(amt, func(t *testing.T) {
			no := orderNo("AMT")
			res := s.call(t, tools.NameMobilePay, `{"outTradeNo":"`+no+`","totalAmount":`+amt+`,"orderTitle":"t"}`)
			mustOK(t, res)
			if !strings.Contains(resText(res), "¥"+amt) {
				t.Errorf("link text lacks ¥%s", amt)
			}
			if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
				t.Fatal(err)
			}
			res = s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`)
			mustOK(t, res)
			if !strings.Contains(s.wire.String(), `"totalAmount":`+amt+`,"tradeNo"`) {
				t.Errorf("the wire does not carry totalAmount %s exactly", amt)
			}
			res = s.call(t, tools.NameRefundPay, `{"outTradeNo":"`+no+`","refundAmount":`+amt+`,"outRequestNo":"`+no+`-R"}`)
			mustOK(t, res)
			res = s.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no+`","outRequestNo":"`+no+`-R"}`)
			mustOK(t, res)
			if !strings.Contains(s.wire.String(), `"refundAmount":`+amt+`,"refundStatus"`) {
				t.Errorf("the wire does not carry refundAmount %s exactly", amt)
			}
		})
	}
}

// Each bad input is a tool error, and the server keeps serving.
func TestBadInputs(t *testing.T) {
	s := newEnv(t, nil).connect(t)
	id65 := strings.Repeat("x", 65)
	tests := []struct {
		name, tool, args string
		want             []string
	}{
		{"zero", tools.NameWebPagePay, `{"outTradeNo":"A1","totalAmount":0,"orderTitle":"t"}`, []string{"totalAmount:"}},
		{"negative", tools.NameWebPagePay, `{"outTradeNo":"A1","totalAmount":-1,"orderTitle":"t"}`, []string{"totalAmount:"}},
		{"three decimals", tools.NameWebPagePay, `{"outTradeNo":"A1","totalAmount":0.001,"orderTitle":"t"}`, []string{"totalAmount:", "two decimals"}},
		{"above max", tools.NameMobilePay, `{"outTradeNo":"A1","totalAmount":100000000.01,"orderTitle":"t"}`, []string{"totalAmount:", "100000000"}},
		{"abc", tools.NameMobilePay, `{"outTradeNo":"A1","totalAmount":"abc","orderTitle":"t"}`, []string{"totalAmount:"}},
		{"65-char outTradeNo", tools.NameQueryPay, `{"outTradeNo":"` + id65 + `"}`, []string{"outTradeNo:", "64"}},
		{"65-char outRequestNo", tools.NameRefundQuery, `{"outTradeNo":"A1","outRequestNo":"` + id65 + `"}`, []string{"outRequestNo:", "64"}},
		{"missing field", tools.NameRefundPay, `{"outTradeNo":"A1","refundAmount":1}`, []string{"outRequestNo: 必填参数缺失 / required"}},
		{"extra field", tools.NameQueryPay, `{"outTradeNo":"A1","tradeNo":"2026"}`, []string{`"tradeNo": 不支持的参数`, "unknown property"}},
		{"refund 0.001", tools.NameRefundPay, `{"outTradeNo":"A1","refundAmount":0.001,"outRequestNo":"R1"}`, []string{"refundAmount:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustToolError(t, s.call(t, tt.tool, tt.args), tt.want...)
		})
	}
	mustOK(t, s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+orderNo("OK")+`","totalAmount":1,"orderTitle":"still serving"}`))
}

// Two servers in local mode on one data directory (a client with two
// windows) share one state.
func TestTwoLocalServersShareState(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.connect(t), e.connect(t)
	no := orderNo("TWO")
	res := a.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":9.99,"orderTitle":"t"}`)
	mustOK(t, res)
	if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
		t.Fatal(err)
	}
	res = b.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`)
	mustOK(t, res)
	if structuredField(res, "tradeStatus") != "TRADE_SUCCESS" {
		t.Fatalf("second server sees %v", res.StructuredContent)
	}
	mustOK(t, b.call(t, tools.NameRefundPay, `{"outTradeNo":"`+no+`","refundAmount":1,"outRequestNo":"`+no+`-R"}`))
	res = a.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no+`","outRequestNo":"`+no+`-R"}`)
	mustOK(t, res)
}

func TestSelectTools(t *testing.T) {
	tests := []struct {
		value string
		want  string // sorted, as tools/list returns them
	}{
		{"all", "create-alipay-qr-payment,create-mobile-alipay-payment,create-web-page-alipay-payment,list-alipay-orders,query-alipay-payment,query-alipay-refund,refund-alipay-payment,wait-alipay-payment"},
		{"all,closePay", "close-alipay-payment,create-alipay-qr-payment,create-mobile-alipay-payment,create-web-page-alipay-payment,list-alipay-orders,query-alipay-payment,query-alipay-refund,refund-alipay-payment,wait-alipay-payment"},
		{"qrPay,waitPay", "create-alipay-qr-payment,wait-alipay-payment"},
		{"mobilePay, refundQuery", "create-mobile-alipay-payment,query-alipay-refund"},
		{"query-alipay-payment,refund-alipay-payment", "query-alipay-payment,refund-alipay-payment"},
		{" webPagePay ,query-alipay-payment", "create-web-page-alipay-payment,query-alipay-payment"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			s := newEnv(t, map[string]string{"AP_SELECT_TOOLS": tt.value}).connect(t)
			lt, err := s.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range lt.Tools {
				names = append(names, tl.Name)
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Errorf("tools %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("unselected tool is unknown", func(t *testing.T) {
		s := newEnv(t, map[string]string{"AP_SELECT_TOOLS": "queryPay"}).connect(t)
		_, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tools.NameRefundPay, Arguments: map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), "unknown tool") {
			t.Errorf("calling an unselected tool: %v", err)
		}
	})
}

// The log file: created 0600, one line per call, no key material, no URLs.
func TestLogFile(t *testing.T) {
	e := newEnv(t, nil)
	s := e.connect(t)
	no := orderNo("LOG")
	s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":1,"orderTitle":"t"}`)
	s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`)
	s.call(t, tools.NameQueryPay, `{"outTradeNo":"bad id"}`)
	s.Close()

	path := filepath.Join(e.home, "mcp-server-alipay.log")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var calls []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "工具调用 / tool call" {
			calls = append(calls, m)
		}
	}
	if len(calls) != 3 {
		t.Fatalf("%d tool call lines, want 3:\n%s", len(calls), b)
	}
	want := []struct{ tool, outcome, code string }{
		{tools.NameWebPagePay, "ok", ""}, {tools.NameQueryPay, "tool_error", "40004"}, {tools.NameQueryPay, "invalid_input", ""},
	}
	for i, w := range want {
		c := calls[i]
		if c["tool"] != w.tool || c["outcome"] != w.outcome || (w.code != "" && c["code"] != w.code) || c["duration_ms"] == nil {
			t.Errorf("line %d: %v, want %+v", i, c, w)
		}
	}
	if calls[0]["outTradeNo"] != no {
		t.Errorf("outTradeNo not logged: %v", calls[0])
	}
	// The local Alipay's keys, read from its data directory, never appear.
	srv, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: e.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	cr := srv.Credentials()
	srv.Close()
	for _, secret := range []string{cr.AppPrivateKey[100:160], cr.AlipayPublicKey[60:120], "sign=", "gateway.do?"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

func TestLogDisabled(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_LOG_ENABLED": "false"})
	s := e.connect(t)
	mustToolError(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"NONE"}`), "ACQ.TRADE_NOT_EXIST")
	s.Close()
	if _, err := os.Stat(filepath.Join(e.home, "mcp-server-alipay.log")); !os.IsNotExist(err) {
		t.Errorf("log file written with AP_LOG_ENABLED=false: %v", err)
	}
}

// A log file that cannot be opened is a warning on stderr; serving goes on.
func TestLogFileUnavailable(t *testing.T) {
	// The ledger has a directory of its own; only the log's is broken.
	e := newEnv(t, map[string]string{"XDG_DATA_HOME": t.TempDir()})
	e.home = filepath.Join(t.TempDir(), "home-is-a-file")
	if err := os.WriteFile(e.home, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := e.connect(t)
	mustToolError(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"NONE"}`), "ACQ.TRADE_NOT_EXIST")
	if !strings.Contains(s.stderr.String(), "cannot open the log file") {
		t.Errorf("no warning on stderr:\n%s", s.stderr.String())
	}
}
