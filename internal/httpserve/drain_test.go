package httpserve

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// exchange is one HTTP request a client made, as recordingTransport saw it.
type exchange struct {
	body   string // the request body
	reused bool   // sent on a connection opened before
	closed bool   // the server closes the connection after the response
	status int
	header http.Header
	resp   string // the response body (JSON answers; not event streams)
}

// recordingTransport is a client's own connection pool that records its
// POSTs, and whether each went on a connection it already had open.
type recordingTransport struct {
	base *http.Transport
	mu   sync.Mutex
	log  []exchange
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	var reused atomic.Bool
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) },
	}))
	// Recorded before it is sent: the server may act on it (and the
	// client see the outcome) before RoundTrip returns.
	rt.mu.Lock()
	i := len(rt.log)
	rt.log = append(rt.log, exchange{body: string(body)})
	rt.mu.Unlock()
	resp, err := rt.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	ex := exchange{body: string(body), reused: reused.Load(), status: resp.StatusCode, header: resp.Header.Clone(), closed: resp.Close}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		ex.resp = string(b)
	}
	rt.mu.Lock()
	rt.log[i] = ex
	rt.mu.Unlock()
	return resp, nil
}

// find is the last recorded POST whose body contains s.
func (rt *recordingTransport) find(s string) (exchange, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for i := len(rt.log) - 1; i >= 0; i-- {
		if strings.Contains(rt.log[i].body, s) {
			return rt.log[i], true
		}
	}
	return exchange{}, false
}

// A shutdown drains: a new tools/call sent during the drain on a
// keep-alive connection opened before it (as a proxy's upstream
// connections are) is refused with 503, Retry-After and Connection: close
// before its handler runs, so the drain ends when the calls already running
// do. What those calls may still need passes: POSTs holding a JSON-RPC
// response or a notification, and on a stateful session the client's
// answer to the server's question asked during the drain, so that call
// completes.
func TestDrainRefusesNewCalls(t *testing.T) {
	for _, proto := range []string{"", "2025-11-25"} {
		t.Run("proto="+proto, func(t *testing.T) {
			stateful := proto != ""
			started, release := make(chan struct{}, 1), make(chan struct{})
			var releaseOnce sync.Once
			releaseHeld := func() { releaseOnce.Do(func() { close(release) }) }
			var counted atomic.Int32
			h := start(t, func(o *Options, _ string) {
				mcp.AddTool(o.Server, &mcp.Tool{Name: "hold"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					started <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
						return nil, nil, ctx.Err()
					}
					text := "held"
					if stateful {
						// A question to the client during the drain; its
						// answer comes in a POST of its own.
						res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Mode: "form", Message: "ok?", RequestedSchema: map[string]any{
							"type": "object", "properties": map[string]any{"confirm": map[string]any{"type": "boolean"}}, "required": []string{"confirm"}}})
						if err != nil {
							return nil, nil, err
						}
						text = "held, answer " + res.Action
					}
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
				})
				mcp.AddTool(o.Server, &mcp.Tool{Name: "counted"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
					counted.Add(1)
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ran"}}}, nil, nil
				})
			})
			connect := func(rt *recordingTransport, opts *mcp.ClientOptions) *mcp.ClientSession {
				t.Helper()
				c := mcp.NewClient(&mcp.Implementation{Name: "drain-test", Version: "1"}, opts)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: h.url + "/mcp", HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1},
					&mcp.ClientSessionOptions{ProtocolVersion: proto})
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				t.Cleanup(func() { cs.Close() })
				return cs
			}
			newRT := func() *recordingTransport {
				rt := &recordingTransport{base: &http.Transport{MaxIdleConnsPerHost: 4}}
				t.Cleanup(rt.base.CloseIdleConnections)
				return rt
			}

			t.Cleanup(releaseHeld) // before the service's cleanup, which waits for the call
			// The caller whose call is in flight through the drain.
			rt1 := newRT()
			cs1 := connect(rt1, &mcp.ClientOptions{ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
			}})
			type answer struct {
				res *mcp.CallToolResult
				err error
			}
			held := make(chan answer, 1)
			go func() {
				res, err := cs1.CallTool(context.Background(), &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
				held <- answer{res, err}
			}()
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the call did not start")
			}
			// While the call (and a stateful session's event stream) keep
			// their connections busy, one more request leaves an idle
			// keep-alive connection in cs1's pool for its answer later.
			if _, err := cs1.ListTools(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			// Another caller with an idle keep-alive connection.
			rt2 := newRT()
			cs2 := connect(rt2, nil)
			if _, err := cs2.ListTools(context.Background(), nil); err != nil {
				t.Fatal(err)
			}

			h.stop()
			waitFor(t, 5*time.Second, "the drain to begin", func() bool { return h.svc.draining.Load() })

			// Responses and notifications pass on the open connection.
			raw := &http.Client{Transport: rt2}
			headers := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
			if stateful {
				headers["Mcp-Session-Id"] = cs2.ID()
				headers["Mcp-Protocol-Version"] = proto
			}
			for _, body := range []string{
				`{"jsonrpc":"2.0","id":"no-such-request","result":{}}`,
				`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"no-such-request"}}`,
			} {
				req, err := http.NewRequest(http.MethodPost, h.url+"/mcp", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				resp, err := raw.Do(req)
				if err != nil {
					t.Fatalf("%s during the drain: %v", body, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "" {
					t.Errorf("%s during the drain: HTTP %d, Retry-After %q; want it passed on", body, resp.StatusCode, resp.Header.Get("Retry-After"))
				}
			}

			// A new call is refused before its handler runs.
			if _, err := cs2.CallTool(context.Background(), &mcp.CallToolParams{Name: "counted", Arguments: map[string]any{}}); err == nil {
				t.Error("a new call during the drain succeeded")
			}
			ex, ok := rt2.find(`"counted"`)
			switch {
			case !ok:
				t.Fatal("the new call was not sent")
			case !ex.reused:
				t.Fatal("the new call did not go on the connection opened before the drain")
			case ex.status != http.StatusServiceUnavailable || ex.header.Get("Retry-After") != "1" || !ex.closed:
				t.Errorf("the new call during the drain: HTTP %d, Retry-After %q, Connection: close %v; want 503, 1, true\n%s",
					ex.status, ex.header.Get("Retry-After"), ex.closed, ex.resp)
			case messageLooksBilingual(ex.resp) != nil:
				t.Errorf("refusal body: %v", messageLooksBilingual(ex.resp))
			}
			if n := counted.Load(); n != 0 {
				t.Errorf("the refused call's handler ran %d times", n)
			}

			// The call in flight completes, its question answered.
			releaseHeld()
			select {
			case a := <-held:
				want := "held"
				if stateful {
					want = "held, answer accept"
				}
				if a.err != nil || a.res.IsError || resultText(a.res) != want {
					t.Fatalf("the call in flight: %v %v, want %q", a.err, a.res, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the call in flight got no answer")
			}
			if stateful {
				// Its answer to the question went in a POST of its own
				// during the drain, which was not refused.
				var ex exchange
				ok := false
				waitFor(t, 5*time.Second, "the answer's POST to return", func() bool { ex, ok = rt1.find(`"accept"`); return ok && ex.status != 0 })
				if ex.status/100 != 2 {
					t.Errorf("the client's answer during the drain: HTTP %d %s", ex.status, ex.resp)
				}
			}
			select {
			case err := <-h.done:
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the service did not stop after its call finished")
			}
			h.done <- nil // for the cleanup
		})
	}
}

// messageLooksBilingual checks a refusal's text: Chinese, then " / " and
// the English.
func messageLooksBilingual(s string) error {
	zh, en, ok := strings.Cut(strings.TrimSpace(s), " / ")
	if !ok || !strings.ContainsFunc(zh, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) || !strings.Contains(en, "shutting down") {
		return errorString("want Chinese / English saying the server is shutting down, got " + s)
	}
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestStartsWork(t *testing.T) {
	for _, tt := range []struct {
		body string
		want bool
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, true},
		{` {"jsonrpc":"2.0","id":"a","method":"subscriptions/listen"}`, true},
		{`[{"jsonrpc":"2.0","id":1,"method":"tools/call"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]`, true},
		{`{"jsonrpc":"2.0","id":1,"result":{}}`, false},
		{`{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}}`, false},
		{`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, false},
		{`{"jsonrpc":"2.0","id":null,"method":"x"}`, false},
		{`[{"jsonrpc":"2.0","id":1,"method":"tools/call"},{"jsonrpc":"2.0","id":7,"result":{}}]`, false},
		{`[{"jsonrpc":"2.0","id":1,"method":"tools/call"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}}]`, true},
		{`[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}}]`, false},
		{`[]`, false},
		{`not json`, false},
		{``, false},
	} {
		if got := startsWork([]byte(tt.body)); got != tt.want {
			t.Errorf("startsWork(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

// A body over the limit during a drain is refused as too large (413), as
// it is outside one, not as unreadable.
func TestDrainBodyTooLarge(t *testing.T) {
	s := &Service{}
	s.draining.Store(true)
	ran := false
	h := s.refuseWhileDraining(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"pad":"`+strings.Repeat("x", 100)+`"}}`))
	req.Body = http.MaxBytesReader(rec, req.Body, 64)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || ran || !strings.Contains(rec.Body.String(), "64") {
		t.Fatalf("oversized body while draining: %d %q (handler ran: %v); want 413 naming the limit", rec.Code, rec.Body.String(), ran)
	}
}

// slowAcceptListener is a listener whose Accept, once the listener is
// closed, returns its error only after the listener was closed a second
// time: the server is still serving on it (and still tracks it) when its
// own Shutdown closes it again, as happens when the scheduler runs
// Shutdown before the accept loop has seen the first close.
type slowAcceptListener struct {
	net.Listener
	closes atomic.Int32
	second chan struct{}
}

func (l *slowAcceptListener) Close() error {
	if l.closes.Add(1) == 2 {
		close(l.second)
	}
	return l.Listener.Close()
}

func (l *slowAcceptListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		select {
		case <-l.second:
		case <-time.After(10 * time.Second):
		}
	}
	return c, err
}

// A graceful shutdown ends without error even when http.Server.Shutdown
// closes the listener that the drain already closed: that second close's
// "use of closed network connection" is not a failure of the service (it
// made the http command exit 1 on a clean SIGTERM, now and then).
func TestShutdownListenerClosedTwice(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "shutdown-test", Version: "1"}, nil)
	s, err := New(Options{Server: srv, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &slowAcceptListener{Listener: inner, second: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ctx, ln, nil) }()
	// Serving: a request is answered.
	resp, err := http.Get("http://" + inner.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener after a graceful shutdown: %v; want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not stop")
	}
	if n := ln.closes.Load(); n < 2 {
		t.Errorf("the listener was closed %d times; the test needs the second close by Shutdown", n)
	}
}
