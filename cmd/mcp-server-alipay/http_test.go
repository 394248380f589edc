package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// httpServer is `mcp-server-alipay http` running as a subprocess.
type httpServer struct {
	cmd    *exec.Cmd
	stderr *lockedBuf
	url    string // the MCP endpoint, http://127.0.0.1:port/mcp
	exited chan error
}

var servingRE = regexp.MustCompile(`serving MCP at (https?://\S+/mcp)`)

// startHTTP starts the binary's http command on a free loopback port and
// waits for it to say where it serves.
func startHTTP(t testing.TB, e *env, args ...string) *httpServer {
	t.Helper()
	return startServing(t, e.command(append([]string{"http", "--listen", "127.0.0.1:0"}, args...)...))
}

// payAwaitUpdate pays link in the local cashier and waits for the
// subscriber's resources/updated of order no on updated.
func payAwaitUpdate(ctx context.Context, t testing.TB, link, no string, updated <-chan string) {
	t.Helper()
	if _, err := localalipay.PayLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	select {
	case uri := <-updated:
		if uri != tools.TradeURI(no) {
			t.Fatalf("update of %s, want %s", uri, tools.TradeURI(no))
		}
	case <-ctx.Done():
		t.Fatalf("no resources/updated after paying %s", no)
	case <-time.After(10 * time.Second):
		t.Fatalf("no resources/updated within 10 s of paying %s", no)
	}
}

// freeLoopbackAddr is a 127.0.0.1 address with a port free a moment ago,
// for a server that must know its own address before it starts.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitExit waits up to d for the server to exit, which it must do cleanly
// (status 0), and leaves the outcome for the test's clean-up.
func (s *httpServer) waitExit(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case err := <-s.exited:
		s.exited <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(d):
		t.Fatalf("still running %v after SIGTERM\n%s", d, s.stderr.String())
	}
}

// startServing starts cmd, a server that prints "serving MCP at <url>" on
// stderr, and waits for that line; the server gets SIGTERM at the end of
// the test.
func startServing(t testing.TB, cmd *exec.Cmd) *httpServer {
	t.Helper()
	s := &httpServer{cmd: cmd, stderr: &lockedBuf{}, exited: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := servingRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.url = m[1]
			return s
		}
		select {
		case err := <-s.exited:
			t.Fatalf("http exited early: %v\n%s", err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("http did not start:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// goClient connects the Go SDK's Streamable HTTP client at proto ("" = the
// newest revision).
func (s *httpServer) goClient(t *testing.T, proto, token string) *mcp.ClientSession {
	t.Helper()
	return s.goClientWith(t, proto, token, nil)
}

// goClientWith is goClient with the client's options (its handlers of
// server notifications).
func (s *httpServer) goClientWith(t *testing.T, proto, token string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "go-http-test", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.url, HTTPClient: &http.Client{Transport: bearerTransport{token}}},
		&mcp.ClientSessionOptions{ProtocolVersion: proto})
	if err != nil {
		t.Fatalf("connect %s: %v\n%s", proto, err, s.stderr.String())
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

const httpToken = "platform-token-0123456789abcdef"

// webLink makes a desktop payment link for order no (amount in yuan, as
// JSON) over cs and returns its URL; any failure ends the test.
func webLink(ctx context.Context, t *testing.T, cs *mcp.ClientSession, no, amount, title string) string {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWebPagePay,
		Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","totalAmount":` + amount + `,"orderTitle":"` + title + `"}`)})
	if err != nil || res.IsError {
		t.Fatalf("create link for %s: %v %v", no, err, res)
	}
	return res.StructuredContent.(map[string]any)["url"].(string)
}

// The http command serves the stdio tools to the Go SDK's client in both
// eras, with a token limiting what it may do, and stops cleanly on SIGTERM.
func TestHTTPCommand(t *testing.T) {
	gw := startLocal(t)
	vars := gatewayEnv(gw)
	vars["AP_HTTP_TOKENS"] = "platform:read,pay:" + httpToken
	e := newEnv(t, vars)
	s := startHTTP(t, e)
	for _, proto := range []string{"", "2025-11-25"} {
		cs := s.goClient(t, proto, httpToken)
		var names []string
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range res.Tools {
			names = append(names, tl.Name)
		}
		want := []string{tools.NameQRPay, tools.NameMobilePay, tools.NameWebPagePay, tools.NameListOrders, tools.NameQueryPay, tools.NameRefundQuery, tools.NameWaitPay}
		if !slices.Equal(names, want) {
			t.Errorf("%q: tools = %v, want %v (no refund without the refund scope)", proto, names, want)
		}
		no := orderNo("HTTPCMD")
		if _, err := localalipay.PayLink(context.Background(), webLink(context.Background(), t, cs, no, "19.99", "插画")); err != nil {
			t.Fatal(err)
		}
		r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tools.NameQueryPay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `"}`)})
		if err != nil || r.IsError || !strings.Contains(resultText(r), "TRADE_SUCCESS") {
			t.Fatalf("%q: query: %v %s", proto, err, resultText(r))
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.waitExit(t, 35*time.Second)
	if !strings.Contains(s.stderr.String(), "已停止 / stopped") {
		t.Errorf("stderr:\n%s", s.stderr.String())
	}
	if strings.Contains(s.stderr.String(), httpToken) {
		t.Error("the token appears on stderr")
	}
	if log, _ := os.ReadFile(filepath.Join(e.home, "mcp-server-alipay.log")); bytes.Contains(log, []byte(httpToken)) || !bytes.Contains(log, []byte(`"transport":"http"`)) {
		t.Errorf("log file: token present or no http start line:\n%s", log)
	}
}

// Off loopback without authentication, and with bad HTTP settings, the
// command refuses to start, naming the variable.
func TestHTTPCommandRefusesBadSetups(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"open off loopback", nil, []string{"--listen", "0.0.0.0:0"}, "authentication is required"},
		{"short token", map[string]string{"AP_HTTP_TOKENS": "a:read:short"}, nil, "AP_HTTP_TOKENS"},
		{"bad scope", map[string]string{"AP_HTTP_TOKENS": "a:write:" + httpToken}, nil, `invalid scope "write"`},
		{"missing token file", map[string]string{"AP_HTTP_TOKENS_FILE": "/nonexistent/tokens"}, nil, "AP_HTTP_TOKENS_FILE"},
		{"oauth without public URL", map[string]string{"AP_HTTP_OAUTH_ISSUER": "https://issuer.example"}, nil, "AP_HTTP_PUBLIC_URL"},
		{"bad rate", map[string]string{"AP_HTTP_RATE_LIMIT": "fast"}, nil, "AP_HTTP_RATE_LIMIT"},
		{"tls cert without key", nil, []string{"--tls-cert", "/tmp/x.pem"}, "--tls-key"},
	} {
		e := newEnv(t, tc.vars)
		cmd := e.command(append([]string{"http"}, tc.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: %v, stderr:\n%s\nwant exit 2 and %q", tc.name, err, stderr.String(), tc.want)
		}
		if strings.Contains(stderr.String(), httpToken) {
			t.Errorf("%s: stderr quotes the token", tc.name)
		}
	}
}

// The TypeScript SDK's Streamable HTTP client (the one most hosts use)
// lists and calls the tools; its token has no refund scope, so the refund
// tool is neither listed nor callable.
func TestTypeScriptSDKClientOverHTTP(t *testing.T) {
	nodeinterop.Dir(t)
	gw := startLocal(t)
	vars := gatewayEnv(gw)
	vars["AP_HTTP_TOKENS"] = "platform:read,pay:" + httpToken
	s := startHTTP(t, newEnv(t, vars))
	no := orderNo("TSSDK")
	out := nodeinterop.Run(t, "mcp-http-client.mjs", nil, s.url, httpToken, no)
	var got struct {
		ProtocolVersion  string
		SessionID        *string
		Tools            []string
		Created, Queried struct {
			IsError           bool
			StructuredContent map[string]any
			Content           []struct{ Text string }
		}
		Refund map[string]any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.SessionID == nil || got.ProtocolVersion < "2025-06-18" {
		t.Errorf("protocol %q, session %v: want a stateful session", got.ProtocolVersion, got.SessionID)
	}
	if want := []string{tools.NameQRPay, tools.NameMobilePay, tools.NameWebPagePay, tools.NameListOrders, tools.NameQueryPay, tools.NameRefundQuery, tools.NameWaitPay}; !slices.Equal(got.Tools, want) {
		t.Errorf("tools = %v, want %v", got.Tools, want)
	}
	if got.Created.IsError || !strings.HasPrefix(got.Created.StructuredContent["url"].(string), gw.URL()) {
		t.Errorf("create: %+v", got.Created)
	}
	if !got.Queried.IsError || !strings.Contains(got.Queried.Content[0].Text, "ACQ.TRADE_NOT_EXIST") {
		t.Errorf("query before paying: %+v", got.Queried)
	}
	if pe, _ := got.Refund["protocolError"].(string); !strings.Contains(pe, "unknown tool") {
		t.Errorf("refund without the refund scope: %v", got.Refund)
	}
}

// The MCP Inspector CLI lists and calls the tools in HTTP mode.
func TestInspectorCLIOverHTTP(t *testing.T) {
	dir := nodeinterop.Dir(t)
	gw := startLocal(t)
	vars := gatewayEnv(gw)
	vars["AP_HTTP_TOKENS"] = "inspector:all:" + httpToken
	s := startHTTP(t, newEnv(t, vars))
	run := func(args ...string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cli := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "inspector-cli", "build", "index.js")
		cmd := exec.CommandContext(ctx, "node", append([]string{cli, s.url, "--transport", "http", "--header", "Authorization: Bearer " + httpToken}, args...)...)
		cmd.Dir = filepath.Join(dir, "node_modules") // it reads ../package.json
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("inspector %v: %v\n%s\n%s", args, err, out.String(), stderr.String())
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("inspector output: %v\n%s", err, out.String())
		}
		return m
	}
	list := run("--method", "tools/list")
	if n := len(list["tools"].([]any)); n != 8 {
		t.Errorf("tools/list: %d tools", n)
	}
	no := orderNo("INSPHTTP")
	res := run("--method", "tools/call", "--tool-name", tools.NameMobilePay,
		"--tool-arg", "outTradeNo="+no, "--tool-arg", "totalAmount=0.29", "--tool-arg", "orderTitle=t")
	if res["isError"] == true || !strings.HasPrefix(res["structuredContent"].(map[string]any)["url"].(string), gw.URL()) {
		t.Errorf("create: %v", res)
	}
}

// The official conformance suite passes every scenario that applies to a
// server without its fixture tools; interop/conformance-expected-failures.yaml
// lists the others and why, and the suite fails if one of them passes.
func TestConformance(t *testing.T) {
	dir := nodeinterop.Dir(t)
	node := filepath.Join(dir, "node_modules", ".bin", "node") // Node 22, from the node@22 package
	s := startHTTP(t, newEnv(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"),
		"server", "--url", s.url, "--expected-failures", filepath.Join(dir, "conformance-expected-failures.yaml"), "-o", t.TempDir())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("conformance: %v\n%s", err, out)
	}
	for _, sc := range []string{"server-initialize", "logging-set-level", "ping", "tools-list", "server-sse-multiple-streams", "resources-list", "prompts-list", "dns-rebinding-protection"} {
		if !regexp.MustCompile(`(?m)^✓ ` + sc + `: \d+ passed, 0 failed$`).Match(out) {
			t.Errorf("scenario %s did not pass:\n%s", sc, out)
		}
	}
}

// In local mode the local Alipay's notifications reach the receiver on the
// same listener with no configuration: a subscriber hears of the payment,
// a waiting call returns paid, the metrics count a verified notification,
// and the audit log names the token that made the link.
func TestHTTPReceivesLocalNotifications(t *testing.T) {
	hooked := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooked <- string(b)
	}))
	defer hook.Close()
	e := newEnv(t, map[string]string{"AP_HTTP_TOKENS": "platform:all:" + httpToken,
		"AP_PAID_WEBHOOK": hook.URL + "/paid", "AP_PAID_WEBHOOK_SECRET": "webhook-secret-0123456789abcdef0123"})
	s := startHTTP(t, e)
	updated := make(chan string, 10)
	cs := s.goClientWith(t, "2025-11-25", httpToken, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { updated <- r.Params.URI }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	no := orderNo("NOTIFY")
	link := webLink(ctx, t, cs, no, "19.99", "插画")
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: tools.TradeURI(no)}); err != nil {
		t.Fatal(err)
	}
	waiter := s.goClient(t, "", httpToken) // 2026-07-28
	waited := make(chan string, 1)
	go func() {
		r, err := waiter.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWaitPay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","timeoutSeconds":50}`)})
		if err != nil {
			waited <- err.Error()
			return
		}
		waited <- resultText(r)
	}()
	payAwaitUpdate(ctx, t, link, no, updated)
	if got := <-waited; !strings.Contains(got, "TRADE_SUCCESS") {
		t.Errorf("wait: %s", got)
	}
	// The paid webhook fires from the ledger's outbox.
	select {
	case body := <-hooked:
		if !strings.Contains(body, no) {
			t.Errorf("webhook body lacks the order: %s", body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no paid webhook")
	}
	metrics := func() string {
		resp, err := http.Get(strings.TrimSuffix(s.url, "/mcp") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for m := metrics(); !strings.Contains(m, `alipay_notifications_total{result="verified"} 1`+"\n") ||
		!strings.Contains(m, `webhook_deliveries_total{outcome="delivered"} 1`+"\n"); m = metrics() {
		if time.Now().After(deadline) {
			t.Fatalf("no verified notification or webhook delivery counted:\n%s\n%s", metrics(), s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The audit log names the token.
	u, _ := url.Parse(link)
	led, err := ledger.Open(ctx, ledger.Options{Path: filepath.Join(e.home, ".local", "share", "mcp-server-alipay", "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	entries, err := led.Account(u.Query().Get("app_id"), "local").AuditLog(ctx, time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range entries {
		found = found || (en.OutTradeNo == no && en.Who == "token:platform")
	}
	if !found {
		t.Errorf("no audit entry for %s by token:platform: %+v", no, entries)
	}
}

// --tls-cert and --tls-key serve HTTPS; a client that trusts the
// certificate lists the tools, and plain HTTP is not answered as MCP.
func TestHTTPCommandTLS(t *testing.T) {
	certFile, keyFile, der := selfSignedCert(t, nil, []net.IP{net.ParseIP("127.0.0.1")})
	cmd := newEnv(t, nil).command("http", "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	re := regexp.MustCompile(`serving MCP at (https://\S+/mcp)`)
	var endpoint string
	deadline := time.Now().Add(30 * time.Second)
	for endpoint == "" {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			endpoint = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no https address:\n%s", stderr.String())
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := mcp.NewClient(&mcp.Implementation{Name: "tls-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("connect over TLS: %v\n%s", err, stderr.String())
	}
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	if err != nil || len(res.Tools) == 0 {
		t.Fatalf("tools over TLS: %v", err)
	}
	// Plain HTTP to the TLS port gets Go's 400 for a TLS server, not MCP.
	resp, err := http.Post(strings.Replace(endpoint, "https://", "http://", 1), "application/json", strings.NewReader(`{}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
}

// selfSignedCert writes a self-signed server certificate for the names
// and addresses, and its key, to PEM files.
func selfSignedCert(t *testing.T, names []string, ips []net.IP) (certFile, keyFile string, der []byte) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cn := "127.0.0.1"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		DNSNames: names, IPAddresses: ips, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, der
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The local Alipay posts to the address the server listens on: an IPv6
// loopback listener gets a bracketed [::1], one on every address 127.0.0.1.
func TestLocalNotifyURL(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		tls  bool
		want string
	}{
		{"127.0.0.1", false, "http://127.0.0.1:8848/alipay/notify"},
		{"::1", false, "http://[::1]:8848/alipay/notify"},
		{"::1", true, "https://[::1]:8848/alipay/notify"},
		{"127.0.0.2", false, "http://127.0.0.2:8848/alipay/notify"},
		{"0.0.0.0", false, "http://127.0.0.1:8848/alipay/notify"},
		{"::", true, "https://127.0.0.1:8848/alipay/notify"},
		{"192.168.1.5", false, "http://192.168.1.5:8848/alipay/notify"},
	} {
		if got := localNotifyURL(&net.TCPAddr{IP: net.ParseIP(tt.ip), Port: 8848}, tt.tls); got != tt.want {
			t.Errorf("localNotifyURL(%s, tls %v) = %s, want %s", tt.ip, tt.tls, got, tt.want)
		}
	}
	// And the URL of a real [::1] listener connects.
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer ln.Close()
	u, err := url.Parse(localNotifyURL(ln.Addr(), false))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("the notify URL %s does not connect: %v", u, err)
	}
	c.Close()
}
