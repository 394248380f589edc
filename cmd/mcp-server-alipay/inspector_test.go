package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// inspector runs the official MCP Inspector CLI (TypeScript SDK, Ajv output
// validation) against the binary and returns its JSON output. It exits 0 on
// isError, so callers assert on the content.
func inspector(t *testing.T, e *env, args ...string) map[string]any {
	t.Helper()
	dir := nodeinterop.Dir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cli := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "inspector-cli", "build", "index.js")
	cmd := exec.CommandContext(ctx, "node", append([]string{cli, binary}, args...)...)
	// The CLI reads ../package.json relative to its working directory.
	cmd.Dir = filepath.Join(dir, "node_modules")
	cmd.Env = e.environ()
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("inspector %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), stderr.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("inspector output is not JSON: %v\n%s", err, out.String())
	}
	return m
}

func TestInspectorCLI(t *testing.T) {
	gw := startLocal(t)
	e := newEnv(t, gatewayEnv(gw))

	list := inspector(t, e, "--method", "tools/list")
	var names []string
	for _, tl := range list["tools"].([]any) {
		names = append(names, tl.(map[string]any)["name"].(string))
	}
	for _, want := range []string{tools.NameMobilePay, tools.NameWebPagePay, tools.NameQueryPay, tools.NameRefundPay, tools.NameRefundQuery} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}

	no := orderNo("INSPECT")
	res := inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameWebPagePay,
		"--tool-arg", "outTradeNo="+no, "--tool-arg", "totalAmount=19.99", "--tool-arg", "orderTitle=定制插画")
	if res["isError"] == true {
		t.Fatalf("create link: %v", res)
	}
	link, _ := res["structuredContent"].(map[string]any)["url"].(string)
	if !strings.HasPrefix(link, gw.URL()+"/gateway.do?") {
		t.Fatalf("no payment URL in %v", res)
	}
	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	// 19.99 in structuredContent passes the TypeScript client's output
	// validation, which it would not with the reference's multipleOf.
	res = inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameQueryPay, "--tool-arg", "outTradeNo="+no)
	sc, _ := res["structuredContent"].(map[string]any)
	if res["isError"] == true || sc["tradeStatus"] != "TRADE_SUCCESS" || sc["totalAmount"] != 19.99 {
		t.Fatalf("query: %v", res)
	}
	// A bad input comes back as a tool error the model can read.
	res = inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameQueryPay, "--tool-arg", "outTradeNo="+strings.Repeat("x", 65))
	if res["isError"] != true || !strings.Contains(res["content"].([]any)[0].(map[string]any)["text"].(string), "outTradeNo:") {
		t.Fatalf("bad input: %v", res)
	}
}

// The Inspector CLI (the TypeScript SDK, which validates structuredContent
// against each output schema with Ajv) calls the three new tools.
func TestInspectorCLINewTools(t *testing.T) {
	gw := startLocal(t)
	e := newEnv(t, gatewayEnv(gw))
	e.vars["AP_SELECT_TOOLS"] = "all,closePay"

	list := inspector(t, e, "--method", "tools/list")
	var names []string
	for _, tl := range list["tools"].([]any) {
		names = append(names, tl.(map[string]any)["name"].(string))
	}
	for _, want := range []string{tools.NameQRPay, tools.NameClosePay, tools.NameWaitPay} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}

	no := orderNo("INSPECT-QR")
	res := inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameQRPay,
		"--tool-arg", "outTradeNo="+no, "--tool-arg", "totalAmount=19.99", "--tool-arg", "orderTitle=定制插画", "--tool-arg", "timeoutMinutes=30")
	sc, _ := res["structuredContent"].(map[string]any)
	code, _ := sc["qrCode"].(string)
	if res["isError"] == true || !strings.HasPrefix(code, gw.URL()+"/qr/") {
		t.Fatalf("QR payment: %v", res)
	}
	var image bool
	for _, c := range res["content"].([]any) {
		if m := c.(map[string]any); m["type"] == "image" && m["mimeType"] == "image/png" && m["data"] != "" {
			image = true
		}
	}
	if !image {
		t.Errorf("no image/png content: %v", res["content"])
	}

	res = inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameWaitPay,
		"--tool-arg", "outTradeNo="+no, "--tool-arg", "timeoutSeconds=1")
	sc, _ = res["structuredContent"].(map[string]any)
	if res["isError"] == true || sc["result"] != "waiting" || sc["tradeStatus"] != "NOT_OPENED" {
		t.Fatalf("wait before paying: %v", res)
	}
	if _, err := localalipay.PayLink(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	res = inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameWaitPay, "--tool-arg", "outTradeNo="+no)
	sc, _ = res["structuredContent"].(map[string]any)
	if res["isError"] == true || sc["result"] != "paid" || sc["totalAmount"] != 19.99 {
		t.Fatalf("wait after paying: %v", res)
	}

	res = inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameClosePay, "--tool-arg", "outTradeNo="+no)
	if res["isError"] != true || !strings.Contains(res["content"].([]any)[0].(map[string]any)["text"].(string), "refund-alipay-payment") {
		t.Fatalf("closing a paid order: %v", res)
	}
	other := orderNo("INSPECT-CLOSE")
	res = inspector(t, e, "--method", "tools/call", "--tool-name", tools.NameClosePay, "--tool-arg", "outTradeNo="+other)
	sc, _ = res["structuredContent"].(map[string]any)
	if res["isError"] == true || sc["closed"] != false || sc["tradeStatus"] != "NOT_OPENED" {
		t.Fatalf("closing an unopened order: %v", res)
	}
}
