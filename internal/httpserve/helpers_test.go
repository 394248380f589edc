package httpserve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// harness is the service on a loopback port with the real tools in front of
// a local Alipay.
type harness struct {
	url  string // base URL, e.g. http://127.0.0.1:1234
	svc  *Service
	gw   *localalipay.Server
	log  *syncBuffer // the service's and the tools' log lines
	stop context.CancelFunc
	done chan error
}

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

// start serves the tools over HTTP; mod adjusts the options first, knowing
// the base URL the service will have.
func start(t testing.TB, mod func(o *Options, url string)) *harness {
	t.Helper()
	gw, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	cfg, err := gw.Credentials().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	client, err := alipay.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{gw: gw, log: &syncBuffer{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	watcher := paywatch.New(context.Background(), client, paywatch.Options{Intervals: []time.Duration{100 * time.Millisecond}, Logger: logger})
	t.Cleanup(watcher.Close)
	m := NewMetrics()
	srv, err := tools.NewServer(tools.Options{
		Deps:      tools.Deps{Client: client, Local: true, Watcher: watcher},
		Logger:    logger,
		OnCall:    m.ObserveCall,
		PerCaller: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	o := Options{Server: srv, Listen: "127.0.0.1:0", Metrics: m, Logger: logger, RateLimit: 0}
	if mod != nil {
		mod(&o, h.url)
	}
	h.svc, err = New(o)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.done <- h.svc.ServeListener(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(40 * time.Second):
			t.Error("the service did not stop")
		}
	})
	return h
}

// bearer is an http.RoundTripper that adds a bearer token.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

func httpClient(token string) *http.Client {
	return &http.Client{Transport: bearer{token: token, base: http.DefaultTransport}}
}

// connect opens a Go SDK client session at protocol version proto ("" =
// the newest, 2026-07-28) with token.
func (h *harness) connect(t testing.TB, proto, token string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	cs, err := h.tryConnect(proto, token, opts)
	if err != nil {
		t.Fatalf("connect (%s): %v", proto, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func (h *harness) tryConnect(proto, token string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "httpserve-test", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: h.url + "/mcp", HTTPClient: httpClient(token), MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: proto})
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

func callTool(ctx context.Context, cs *mcp.ClientSession, name, args string) (*mcp.CallToolResult, error) {
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: json.RawMessage(args)})
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// post sends one JSON-RPC body to /mcp the way a Streamable HTTP client
// does, with extra headers, and returns the response with its body read.
func (h *harness) post(t *testing.T, body string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
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
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	return resp, string(b)
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitFor polls cond until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// initBody is an initialize request at an older protocol revision.
const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
