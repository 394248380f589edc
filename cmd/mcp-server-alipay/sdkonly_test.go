package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/heapfloor"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// BenchmarkHTTPSDKOnly is BenchmarkHTTPCreateWebPage against a server that
// is nothing but the MCP SDK's Streamable HTTP handler and one tool: the
// same tool definition, a handler that signs the same link with the same
// code (alipay.Client.PagePayURL) and answers with about as many bytes, the
// same garbage-collector pacing. No ledger, no authentication or
// Host/Origin checks, no request-id guard, no metrics, no input checks
// beyond reading the arguments, and the SDK's own way of writing the answer
// (no held flush). It shows what the SDK's request path and the signature
// cost on this machine, apart from this project's own layers.
func BenchmarkHTTPSDKOnly(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode.name, func(b *testing.B) {
			cmd := exec.Command(os.Args[0], sdkOnlyArg)
			cmd.Env = append(os.Environ(), sdkOnlyEnv+"=1")
			benchCreateWebPage(b, startServing(b, cmd), mode.proto)
		})
	}
}

// sdkOnlyEnv, with sdkOnlyArg among the arguments, makes the test binary
// run the SDK-only server (see TestMain); either alone runs the tests.
const (
	sdkOnlyEnv = "MCP_ALIPAY_BENCH_SDK_ONLY"
	sdkOnlyArg = "-test.run=^$"
)

// runSDKOnly serves BenchmarkHTTPSDKOnly's server on 127.0.0.1 until it is
// killed, printing "serving MCP at <url>" as the real server does; it
// returns only if it cannot serve.
func runSDKOnly() int {
	defer heapfloor.Start(gcMaxFloor, gcEvery, os.Getenv).Stop()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	gateway, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	client, err := alipay.NewClient(alipay.Config{AppID: "2021000000000001", PrivateKey: key, AlipayPublicKey: &gateway.PublicKey,
		GatewayURL: "http://127.0.0.1:8849/gateway.do", NotifyURL: "http://127.0.0.1:8848/alipay/notify"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var def *mcp.Tool
	for _, t := range tools.All(tools.Deps{Client: client, Local: true}) {
		if t.Tool.Name == tools.NameWebPagePay {
			def = t.Tool
		}
	}
	// About the length of the real answer's text around the link.
	filler := strings.Repeat("在电脑浏览器中打开链接, 用支付宝扫码付款。Open the link in a desktop browser and scan it with Alipay.\n", 16)
	s := mcp.NewServer(&mcp.Implementation{Name: "sdk-only", Version: "1"}, nil)
	s.AddTool(def, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in struct {
			OutTradeNo  string          `json:"outTradeNo"`
			TotalAmount json.RawMessage `json:"totalAmount"`
			OrderTitle  string          `json:"orderTitle"`
		}
		if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
			return nil, err
		}
		amount, err := alipay.AmountFromJSON(in.TotalAmount)
		if err != nil {
			return nil, err
		}
		link, err := client.PagePayURL(alipay.PayRequest{OutTradeNo: in.OutTradeNo, TotalAmount: amount, Subject: in.OrderTitle,
			TimeExpire: alipay.FormatTimestamp(time.Now().Add(24 * time.Hour))})
		if err != nil {
			return nil, err
		}
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: "[点击支付 / Pay](" + link + ")\n\n" + filler}},
			StructuredContent: map[string]string{"url": link},
		}, nil
	})
	opts := mcp.StreamableHTTPOptions{DisableLocalhostProtection: true}
	stateful := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &opts)
	sl := opts
	sl.Stateless = true
	stateless := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &sl)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "sdk only: serving MCP at http://%s/mcp\n", ln.Addr())
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The same split as the real service: 2026-07-28 without a session
		// is served statelessly, the rest in sessions.
		if r.Header.Get("Mcp-Session-Id") == "" && r.Header.Get("Mcp-Protocol-Version") >= "2026-07-28" {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}
