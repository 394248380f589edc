package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// settings parses the KEY=value lines of the banner.
func settings(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "AP_") {
			m[k] = v
		}
	}
	return m
}

func TestSandboxServesAndControls(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- runSandbox(ctx, []string{"--listen", "127.0.0.1:0", "--data", t.TempDir()}, noEnv, &stdout, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "Ctrl+C") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := stdout.String()
	for _, want := range []string{"LOCAL Alipay", "不是真实的支付宝", "LOCAL test app", "printing it is intended"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	env := settings(out)
	key, err := alipay.ParsePrivateKey("AP_APP_KEY", env["AP_APP_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := alipay.ParsePublicKey("AP_PUB_KEY", env["AP_PUB_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env["AP_APP_ID"], "local-") || !strings.HasSuffix(env["AP_GATEWAY_URL"], "/gateway.do") || !config.ValidSellerID(env["AP_SELLER_ID"]) {
		t.Fatalf("settings: %v", env)
	}
	cl, err := alipay.NewClient(alipay.Config{AppID: env["AP_APP_ID"], PrivateKey: key, AlipayPublicKey: pub, GatewayURL: env["AP_GATEWAY_URL"]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Query(ctx, "SB1"); !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
		t.Fatalf("query: %v", err)
	}
	base := strings.TrimSuffix(env["AP_GATEWAY_URL"], "/gateway.do")
	link, err := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "SB1", TotalAmount: 1234, Subject: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}

	control := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := runSandbox(ctx, append(args, "--url", base), noEnv, &o, &e)
		return code, o.String(), e.String()
	}
	if code, o, e := control("pay-link", link); code != 0 || !strings.Contains(o, "/cashier/paid?") {
		t.Fatalf("pay-link: %d %s %s", code, o, e)
	}
	code, o, e := control("trade", "SB1")
	var d struct {
		Status string `json:"trade_status"`
		Total  string `json:"total_amount"`
	}
	if code != 0 || json.Unmarshal([]byte(o), &d) != nil || d.Status != "TRADE_SUCCESS" || d.Total != "12.34" {
		t.Fatalf("trade: %d %s %s", code, o, e)
	}
	if code, o, _ := control("trades"); code != 0 || !strings.Contains(o, `"SB1"`) {
		t.Fatalf("trades: %d %s", code, o)
	}
	if code, o, _ := control("env"); code != 0 || settings(o)["AP_APP_ID"] != env["AP_APP_ID"] {
		t.Fatalf("env: %d %s", code, o)
	}
	if code, _, e := control("close", "SB1"); code != 1 || !strings.Contains(e, "ACQ.TRADE_STATUS_ERROR") {
		t.Fatalf("closing a paid trade: %d %s", code, e)
	}
	if code, _, e := control("pay", "NOPE"); code != 1 || !strings.Contains(e, "404") {
		t.Fatalf("paying an unknown trade: %d %s", code, e)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sandbox did not stop")
	}
}

func TestSandboxBadUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		has  []string
	}{
		{"bad listen", []string{"--listen", "nope"}, 2, []string{"HOST:PORT", "主机:端口"}},
		{"unknown flag", []string{"--nope"}, 2, []string{"-nope", "无效的参数", "invalid flag"}},
		{"unexpected argument", []string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "x"}, 2, []string{"不接受参数", "unexpected argument"}},
		{"unknown subcommand", []string{"frobnicate"}, 2, []string{"unknown subcommand", "未知的子命令"}},
		{"missing argument", []string{"pay"}, 2, []string{"需要 1 个参数", "wants 1 argument", "OUT_TRADE_NO"}},
		{"extra argument", []string{"trades", "x"}, 2, []string{"不接受参数", "unexpected argument \"x\""}},
		{"unknown flag of a subcommand", []string{"trades", "--nope"}, 2, []string{"-nope", "无效的参数", "invalid flag"}},
		{"nothing running", []string{"trades", "--url", "http://127.0.0.1:1"}, 1, []string{"is no LOCAL Alipay running", "没有运行中的本地模拟支付宝"}},
		{"bad url", []string{"trades", "--url", "ftp://x"}, 2, []string{"--url", "http://127.0.0.1:8849"}},
		{"help", []string{"--help"}, 0, []string{"LOCAL Alipay", "本地模拟支付宝", "--listen", "监听地址", "--data-dir DIR", "--data still works"}},
		{"subcommand help", []string{"pay", "--help"}, 0, []string{"sandbox pay OUT_TRADE_NO", "不用浏览器", "without a browser", "--url"}},
		{"pay-link help", []string{"pay-link", "-h"}, 0, []string{"sandbox pay-link LINK", "打开支付链接", "open a payment link"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			code := runSandbox(context.Background(), tc.args, noEnv, &o, &e)
			if code != tc.code {
				t.Fatalf("code %d, want %d; stderr %q", code, tc.code, e.String())
			}
			// Help asked for goes to stdout; everything else to stderr.
			got, quiet := &e, &o
			if tc.code == 0 {
				got, quiet = &o, &e
			}
			if quiet.Len() != 0 {
				t.Errorf("the other stream is not empty: %q", quiet.String())
			}
			for _, want := range tc.has {
				if !strings.Contains(got.String(), want) {
					t.Errorf("output %q lacks %q", got.String(), want)
				}
			}
			if first, _, _ := strings.Cut(got.String(), "\n"); !hasHanAndLatin(first) {
				t.Errorf("first line %q is not Chinese + English", first)
			}
		})
	}
}

// hasHanAndLatin reports whether s has Chinese and an English word.
func hasHanAndLatin(s string) bool {
	han, latin, run := false, false, 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			han, run = true, 0
		case r >= 'a' && r <= 'z':
			if run++; run >= 3 {
				latin = true
			}
		default:
			run = 0
		}
	}
	return han && latin
}

func TestListenWarning(t *testing.T) {
	cases := []struct {
		addr    string
		warn    bool
		invalid bool
	}{
		{"127.0.0.1:8849", false, false},
		{"localhost:0", false, false},
		{"[::1]:8849", false, false},
		{"0.0.0.0:8849", true, false},
		{":8849", true, false},
		{"192.168.1.5:8849", true, false},
		{"8849", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			w, err := listenWarning(tc.addr)
			if (err != nil) != tc.invalid || (w != "") != tc.warn {
				t.Fatalf("warning %q, error %v", w, err)
			}
			if tc.warn && !strings.Contains(w, "WARNING") {
				t.Fatalf("warning %q", w)
			}
		})
	}
}

// noEnv is an environment without any variable.
func noEnv(string) string { return "" }

// A link made by a short-lived MCP server in local mode (the Inspector CLI
// starts one per call) is still paid through a sandbox on the same data
// directory after that server has exited, whatever port it had.
func TestSandboxPaysLinkOfExitedServer(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- runSandbox(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", e.dataDir}, noEnv, &stdout, &stderr)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "Ctrl+C") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := strings.TrimSuffix(settings(stdout.String())["AP_GATEWAY_URL"], "/gateway.do")

	s := e.connect(t)
	no := orderNo("GONE")
	res := s.call(t, "create-mobile-alipay-payment", `{"outTradeNo":"`+no+`","totalAmount":9.99,"orderTitle":"短暂的客户端"}`)
	mustOK(t, res)
	link := structuredField(res, "url")
	if strings.HasPrefix(link, base) {
		t.Fatalf("the link %s is on the sandbox's own address", link)
	}
	s.Close() // the client exits, and its server with it
	if err := s.cmd.Wait(); err != nil {
		t.Logf("server exit: %v", err)
	}

	var o, er bytes.Buffer
	if code := runSandbox(ctx, []string{"pay-link", link, "--url", base}, noEnv, &o, &er); code != 0 || !strings.Contains(o.String(), "redirect_url") {
		t.Fatalf("pay-link of the exited server's link: exit %d\n%s%s", code, o.String(), er.String())
	}
	o.Reset()
	if code := runSandbox(ctx, []string{"trade", no, "--url", base}, noEnv, &o, &er); code != 0 || !strings.Contains(o.String(), "TRADE_SUCCESS") {
		t.Fatalf("trade after paying: exit %d\n%s%s", code, o.String(), er.String())
	}
}
