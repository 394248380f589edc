package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// runBinary runs the binary to completion with stdin on /dev/null.
func runBinary(t *testing.T, e *env, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBinaryInput(t, e, nil, args...)
}

// runBinaryInput runs the binary to completion reading stdin (nil: /dev/null).
func runBinaryInput(t *testing.T, e *env, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := e.command(args...)
	cmd.Stdin = stdin
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v did not finish", args)
	}
	return o.String(), er.String(), code
}

// startLocal runs a local Alipay inside the test, so a test can reach its
// fault injection while the binary talks to it as to any gateway.
func startLocal(t *testing.T) *localalipay.Server {
	t.Helper()
	s, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// gatewayEnv configures the binary for a gateway like a real merchant would:
// keys and app id, no local mode.
func gatewayEnv(s *localalipay.Server) map[string]string {
	cr := s.Credentials()
	return map[string]string{
		"AP_CURRENT_ENV": "sandbox",
		"AP_GATEWAY_URL": cr.GatewayURL,
		"AP_APP_ID":      cr.AppID,
		"AP_APP_KEY":     cr.AppPrivateKey,
		"AP_PUB_KEY":     cr.AlipayPublicKey,
	}
}

func setFaults(t *testing.T, s *localalipay.Server, body string) {
	t.Helper()
	method := http.MethodPost
	if body == "" {
		method = http.MethodDelete
	}
	req, _ := http.NewRequest(method, s.URL()+"/_local/faults", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s /_local/faults: HTTP %d", method, resp.StatusCode)
	}
}

// A tampered gateway answer is an error, never a success.
func TestTamperedGatewayResponse(t *testing.T) {
	gw := startLocal(t)
	s := newEnv(t, gatewayEnv(gw)).connect(t)
	no := orderNo("TAMPER")
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":88.88,"orderTitle":"t"}`)
	mustOK(t, res)
	if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
		t.Fatal(err)
	}
	mustOK(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`))

	setFaults(t, gw, `{"tamper_sign_rate":1}`)
	mustToolError(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`), "NOT trusted", "AP_PUB_KEY")
	mustToolError(t, s.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no+`","outRequestNo":"R1"}`), "NOT trusted")
	setFaults(t, gw, `{"unsigned_rate":1}`)
	mustToolError(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`), "NOT trusted")
	setFaults(t, gw, "")
	mustOK(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`))
}

// A system error on a refund says the outcome is unknown and how to retry
// safely; the retry with the same outRequestNo does not refund twice.
func TestRefundUnknownOutcome(t *testing.T) {
	gw := startLocal(t)
	s := newEnv(t, gatewayEnv(gw)).connect(t)
	no := orderNo("UNK")
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":100,"orderTitle":"t"}`)
	mustOK(t, res)
	if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
		t.Fatal(err)
	}
	setFaults(t, gw, `{"system_error_rate":1,"system_error_after_commit":true,"methods":["alipay.trade.refund"]}`)
	refund := `{"outTradeNo":"` + no + `","refundAmount":30,"outRequestNo":"` + no + `-R1"}`
	mustToolError(t, s.call(t, tools.NameRefundPay, refund), "SAME outRequestNo")
	setFaults(t, gw, "")
	res = s.call(t, tools.NameRefundPay, refund)
	mustOK(t, res)
	if structuredField(res, "refundResult") != tools.RefundResultSuccess || !strings.Contains(resText(res), "never twice") {
		t.Errorf("retry after a committed refund: %v\n%s", res.StructuredContent, resText(res))
	}
	wantRefunds(t, gw, no, "30.00", 1)
	res = s.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no+`","outRequestNo":"`+no+`-R1"}`)
	mustOK(t, res)
	if structuredField(res, "refundAmount") != "30.00" {
		t.Errorf("refund query: %v", res.StructuredContent)
	}
}

// The first refund attempt takes effect but its answer is lost (a system
// error after the commit); the client's automatic retry with the same
// outRequestNo gets fund_change=N. The tool confirms with the refund query
// and reports the refund as done, once; a repeated call refunds nothing
// more and also reports it done.
func TestRefundLostAnswerConfirmed(t *testing.T) {
	gw := startLocal(t)
	s := newEnv(t, gatewayEnv(gw)).connect(t)
	no := orderNo("LOST")
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":100,"orderTitle":"t"}`)
	mustOK(t, res)
	if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
		t.Fatal(err)
	}
	setFaults(t, gw, `{"system_error_next":1,"system_error_after_commit":true,"methods":["alipay.trade.refund"]}`)
	refund := `{"outTradeNo":"` + no + `","refundAmount":30,"outRequestNo":"` + no + `-R1"}`
	for i := 1; i <= 2; i++ {
		res = s.call(t, tools.NameRefundPay, refund)
		mustOK(t, res)
		if structuredField(res, "refundResult") != tools.RefundResultSuccess || !strings.Contains(resText(res), "never twice") ||
			!strings.Contains(resText(res), "refunded on this order so far: ¥30.00") {
			t.Errorf("call %d: %v\n%s", i, res.StructuredContent, resText(res))
		}
		if n := gw.Faults().SystemErrorNext; n != 0 {
			t.Fatalf("the injected system error was not used (system_error_next=%d)", n)
		}
		wantRefunds(t, gw, no, "30.00", 1)
	}
}

// wantRefunds checks what the local Alipay holds for an order.
func wantRefunds(t *testing.T, gw *localalipay.Server, no, refunded string, n int) {
	t.Helper()
	d, err := gw.Trade(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Refunds) != n || d.RefundedAmount != refunded {
		t.Errorf("local Alipay: %d refunds, %s refunded; want %d, %s: %+v", len(d.Refunds), d.RefundedAmount, n, refunded, d.Refunds)
	}
}

func TestRefundCap(t *testing.T) {
	s := newEnv(t, map[string]string{"AP_REFUND_MAX_AMOUNT": "10"}).connect(t)
	mustToolError(t, s.call(t, tools.NameRefundPay, `{"outTradeNo":"A1","refundAmount":10.01,"outRequestNo":"R1"}`), "AP_REFUND_MAX_AMOUNT")
}

// Invalid configurations stop before serving, with one line naming each bad
// variable, and nothing on stdout.
func TestInvalidConfigurations(t *testing.T) {
	app, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	appPriv, _ := alipay.EncodePrivateKeyPKCS8(app)
	appPub, _ := alipay.EncodePublicKey(&app.PublicKey)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	aliPub, _ := alipay.EncodePublicKey(&other.PublicKey)
	good := map[string]string{"AP_CURRENT_ENV": "prod", "AP_APP_ID": "2021000000000001", "AP_APP_KEY": appPriv, "AP_PUB_KEY": aliPub}
	tests := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"missing AP_APP_ID", map[string]string{"AP_APP_ID": ""}, []string{"AP_APP_ID: 必填", "required"}},
		{"bad key", map[string]string{"AP_APP_KEY": "MIIEvAIBADAN-not-a-key"}, []string{"AP_APP_KEY:"}},
		{"public key as AP_APP_KEY", map[string]string{"AP_APP_KEY": appPub}, []string{"AP_APP_KEY:", "public key, not a private key"}},
		{"own public key as AP_PUB_KEY", map[string]string{"AP_PUB_KEY": appPub}, []string{"AP_PUB_KEY:", "own app key"}},
		{"bad AP_ENCRYPTION_ALGO", map[string]string{"AP_ENCRYPTION_ALGO": "RSA3"}, []string{"AP_ENCRYPTION_ALGO:", "RSA2"}},
		{"bad AP_CURRENT_ENV", map[string]string{"AP_CURRENT_ENV": "production"}, []string{"AP_CURRENT_ENV:", "prod, sandbox or local"}},
		{"bad AP_SELECT_TOOLS", map[string]string{"AP_SELECT_TOOLS": "mobilePay,payEverything"}, []string{"AP_SELECT_TOOLS:", "payEverything",
			"mobilePay", "webPagePay", "queryPay", "refundPay", "refundQuery"}},
		{"bad AP_NOTIFY_URL", map[string]string{"AP_NOTIFY_URL": "ftp://x"}, []string{"AP_NOTIFY_URL:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range good {
				vars[k] = v
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			stdout, stderr, code := runBinary(t, newEnv(t, vars))
			if code == 0 {
				t.Fatalf("exit 0; stderr:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty: %q", stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, appPriv[50:100]) {
				t.Errorf("stderr leaks the private key")
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	e := newEnv(t, nil)
	for _, arg := range []string{"--help", "help"} {
		out, _, code := runBinary(t, e, arg)
		if code != 0 {
			t.Errorf("%s: exit %d", arg, code)
		}
		for _, v := range config.Variables {
			if !strings.Contains(out, v) {
				t.Errorf("%s does not mention %s", arg, v)
			}
		}
		for _, c := range []string{"demo", "doctor", "sandbox", "version", "用法", "Usage"} {
			if !strings.Contains(out, c) {
				t.Errorf("%s does not mention %s", arg, c)
			}
		}
	}
	out, _, code := runBinary(t, e, "--version")
	if code != 0 || !strings.HasPrefix(out, "mcp-server-alipay ") {
		t.Errorf("--version: %d %q", code, out)
	}
	_, stderr, code := runBinary(t, e, "frobnicate")
	if code == 0 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: %d %q", code, stderr)
	}
}

func TestDemo(t *testing.T) {
	e := newEnv(t, nil)
	out, stderr, code := runBinary(t, e, "demo")
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, s := range []string{e.dataDir, tools.NameWebPagePay, "ACQ.TRADE_NOT_EXIST", "TRADE_SUCCESS", tools.NameRefundPay, "¥50.00", "REFUND_SUCCESS",
		tools.NameQRPay, "drawn in the terminal", qrInk + "        ", "█▀▀▀▀▀█", tools.NameWaitPay, "progress", "the buyer scans and pays", "The buyer has paid", "¥88.00", "Demo complete"} {
		if !strings.Contains(out, s) {
			t.Errorf("demo output lacks %q", s)
		}
	}
	// Every id and link is whole, so it can be copied: nothing is cut with
	// an ellipsis next to letters or digits.
	if m := regexp.MustCompile(`[A-Za-z0-9=%]…|…[A-Za-z0-9]`).FindString(out); m != "" {
		t.Errorf("demo output cuts something (%q):\n%s", m, out)
	}
}

// The demo's order number is dated in Beijing time, like every time the
// tools show: 22:36 UTC on 29 November is 06:36 on the 30th in Beijing.
func TestDemoOrderNoBeijingDate(t *testing.T) {
	at := time.Date(2026, 11, 29, 22, 36, 22, 0, time.UTC)
	if got := demoOrderNo(at); !strings.HasPrefix(got, "DEMO-20261130-063622-") {
		t.Errorf("demoOrderNo(%v) = %s, want DEMO-20261130-063622-…", at, got)
	}
}

func TestDoctor(t *testing.T) {
	gw := startLocal(t)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherPriv, _ := alipay.EncodePrivateKeyPKCS8(otherKey)
	otherPub, _ := alipay.EncodePublicKey(&otherKey.PublicKey)
	tests := []struct {
		name string
		vars map[string]string
		code int
		want []string
	}{
		{"local", map[string]string{}, 0, []string{"✓ 本地支付宝 / local Alipay", "✓ 签名调用", "All checks passed",
			"✓ 支付有效期 / payment expiry (AP_PAY_TIMEOUT): 1d", "stay payable for 1d from when they are made"}},
		{"good keys", gatewayEnv(gw), 0, []string{"✓ AP_APP_KEY", "✓ AP_PUB_KEY", "✓ 网关 / gateway", "✓ 签名调用"}},
		{"seller set", with(gatewayEnv(gw), "AP_SELLER_ID", "2088000000000001"), 0, []string{"✓ AP_SELLER_ID", "must name seller 2088000000000001"}},
		{"notifications without a seller", with(gatewayEnv(gw), "AP_NOTIFY_URL", "https://mcp.example.com/alipay/notify"), 0, []string{"! AP_SELLER_ID 未设置", "pins its seller"}},
		{"wrong app key", with(gatewayEnv(gw), "AP_APP_KEY", otherPriv), 1, []string{"✗ 签名调用", "isv.invalid-signature", "AP_APP_KEY does not match"}},
		{"wrong alipay key", with(gatewayEnv(gw), "AP_PUB_KEY", otherPub), 1, []string{"✗ 签名调用", "AP_PUB_KEY"}},
		{"unknown app", with(gatewayEnv(gw), "AP_APP_ID", "2021000000000009"), 1, []string{"✗ 签名调用", "AP_APP_ID"}},
		{"unreachable", with(gatewayEnv(gw), "AP_GATEWAY_URL", "http://127.0.0.1:1/gateway.do"), 1, []string{"✗ 网关 / gateway", "unreachable"}},
		{"bad config", map[string]string{"AP_CURRENT_ENV": "prod"}, 1, []string{"✗ 配置 / configuration AP_APP_ID: 必填", "to try without an account, set AP_CURRENT_ENV=local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runBinary(t, newEnv(t, tt.vars), "doctor")
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tt.code, out, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("doctor output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// Started by hand in a terminal, the server says what it waits for. The
// terminal comes from util-linux `script`, which gives the child a pty.
func TestTerminalHint(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) not found: cannot give the server a terminal")
	}
	e := newEnv(t, nil)
	cmd := exec.Command(scriptBin, "-qec", binary, "/dev/null")
	cmd.Env = e.environ()
	done := make(chan struct{})
	var out []byte
	go func() {
		out, _ = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("server under a terminal did not exit after stdin closed")
	}
	for _, want := range []string{"Waiting for an MCP client", "mcp-server-alipay demo"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("terminal output lacks %q:\n%s", want, out)
		}
	}
}

// The payment watch queries through its own client, one attempt per call:
// its schedule and breaker do the retrying, the tools' client retries.
func TestWatchClientOneAttempt(t *testing.T) {
	b, err := newBackend(context.Background(), &config.Config{Env: config.Local, LocalDataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.local.SetFaults(localalipay.Faults{HTTP502Rate: 1}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *alipay.Client
		want   int
	}{
		{"watch", b.watchClient, 1},
		{"tools", b.client, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Query(context.Background(), "WATCH-502")
			var ae *alipay.Error
			if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusBadGateway || ae.Attempts != tt.want {
				t.Fatalf("error %v (%+v), want HTTP 502 after %d attempts", err, ae, tt.want)
			}
		})
	}
}

// A relative AP_LOCAL_DATA_DIR is resolved against the directory the server
// was started in, once, and stderr says where it went.
func TestRelativeDataDir(t *testing.T) {
	wd := t.TempDir()
	e := newEnv(t, map[string]string{"AP_LOCAL_DATA_DIR": "rel-data"})
	cmd := e.command()
	cmd.Dir = wd
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	abs := filepath.Join(wd, "rel-data")
	for _, w := range []string{"相对路径", "is relative", abs} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(abs, "identity.json")); err != nil {
		t.Errorf("local Alipay data not in %s: %v", abs, err)
	}
}
