package httpserve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// Without settings the timeouts are those the service always had.
func TestTimeoutDefaults(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	s, err := New(Options{Server: srv, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", s.o.ReadHeaderTimeout, 10 * time.Second},
		{"ReadTimeout", s.o.ReadTimeout, 30 * time.Second},
		{"IdleTimeout", s.o.IdleTimeout, 2 * time.Minute},
		{"ShutdownTimeout", s.o.ShutdownTimeout, 30 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Short timeouts for the tests; every default is ten times these or more,
// so a setting that is not honoured fails the bound below.
const (
	testHeaderTimeout = 300 * time.Millisecond
	testReadTimeout   = 600 * time.Millisecond
	testIdleTimeout   = 300 * time.Millisecond
	// cutBound is how long a test waits for the server to hang up: well
	// under the defaults (10 s, 30 s, 2 min), well over the test settings.
	cutBound = 5 * time.Second
)

// A client that stalls or trickles its request line, headers or body is
// disconnected once the header or read timeout has passed, and an idle
// keep-alive connection once the idle timeout has; through a real listener,
// waiting on the connection's end.
func TestSlowClientsAreCut(t *testing.T) {
	h := start(t, func(o *Options, _ string) {
		o.ReadHeaderTimeout, o.ReadTimeout, o.IdleTimeout = testHeaderTimeout, testReadTimeout, testIdleTimeout
	})
	addr := strings.TrimPrefix(h.url, "http://")
	headers := "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"Accept: application/json, text/event-stream\r\nContent-Length: " + strconv.Itoa(len(initBody)) + "\r\n\r\n"
	for _, tc := range []struct {
		name    string
		sent    string // written at once
		trickle string // then written a byte at a time, forever
		idle    bool   // sent is a whole request: read its answer, then wait
		after   time.Duration
	}{
		{name: "stalled request line", sent: "POST /mcp HT", after: testHeaderTimeout},
		{name: "stalled headers", sent: "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\nContent-Ty", after: testHeaderTimeout},
		{name: "trickled headers", sent: "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\n", trickle: "X-Pad: ", after: testHeaderTimeout},
		{name: "stalled body", sent: headers + initBody[:20], after: testReadTimeout},
		{name: "trickled body", sent: headers, trickle: initBody, after: testReadTimeout},
		{name: "idle keep-alive", sent: "GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", idle: true, after: testIdleTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The clock starts before the dial: the server's deadline starts
			// once it has accepted, which may be before Dial returns here, so
			// a clock started after it could see an honest cut come early.
			t0 := time.Now()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.sent); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			if tc.idle {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "ok\n" || resp.Close {
					t.Fatalf("the request before idling: %d %q close=%v", resp.StatusCode, body, resp.Close)
				}
				// The idle time starts after the server wrote the answer,
				// which is after t0 (taken before the request was sent).
			}
			if tc.trickle != "" {
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						if _, err := conn.Write([]byte{tc.trickle[i%len(tc.trickle)]}); err != nil {
							return
						}
					}
				}()
			}
			conn.SetReadDeadline(time.Now().Add(cutBound))
			got, err := io.ReadAll(br)
			elapsed := time.Since(t0)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Fatalf("still connected after %v (timeout %v); read %q", cutBound, tc.after, got)
			case err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !isReset(err):
				t.Fatalf("read: %v", err)
			}
			// Whatever was answered before hanging up, it was no success.
			if strings.HasPrefix(string(got), "HTTP/1.1 200") {
				t.Errorf("answered %q", got)
			}
			if elapsed < tc.after {
				t.Errorf("cut after %v, before the %v timeout", elapsed, tc.after)
			}
		})
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// The read timeout ends with the request body: a call that runs well past
// it gets its answer, and an event stream (the session's GET stream before
// 2026-07-28, subscriptions/listen on it) still delivers a notification.
func TestLongAnswersOutliveReadTimeout(t *testing.T) {
	const rt = 200 * time.Millisecond
	uri := tools.TradeURI("LONGANSWER1")
	h := start(t, func(o *Options, _ string) {
		o.ReadHeaderTimeout, o.ReadTimeout = rt, rt
		srv := o.Server
		mcp.AddTool(srv, &mcp.Tool{Name: "slow-answer"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			select {
			case <-time.After(5 * rt):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			// Not the call's context: the update goes to the subscribers'
			// streams, not to this call's answer.
			if err := srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	})
	for _, proto := range []string{"", "2025-11-25"} {
		t.Run("proto="+proto, func(t *testing.T) {
			updated := make(chan string, 10)
			cs := h.connect(t, proto, "", &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
				updated <- r.Params.URI
			}})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
				t.Fatal(err)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow-answer", Arguments: map[string]any{}})
			if err != nil || res.IsError || resultText(res) != "done" {
				t.Fatalf("a call running past the read timeout: %v %v", err, res)
			}
			select {
			case got := <-updated:
				if got != uri {
					t.Errorf("updated %s, want %s", got, uri)
				}
			case <-ctx.Done():
				t.Fatal("no resources/updated on the event stream opened before the read timeout")
			}
		})
	}
}

// With a short ShutdownTimeout, a shutdown stops accepting at once, lets a
// call that finishes within the limit answer, cuts a call that never
// finishes (its context is cancelled, its client gets no success), and
// returns soon after the limit.
func TestShutdownCutsStuckCalls(t *testing.T) {
	const limit = time.Second
	for _, proto := range []string{"", "2025-11-25"} {
		t.Run("proto="+proto, func(t *testing.T) {
			stuckStarted, finishingStarted := make(chan struct{}, 1), make(chan struct{}, 1)
			stuckEnded := make(chan error, 1)
			release := make(chan struct{})
			h := start(t, func(o *Options, _ string) {
				o.ShutdownTimeout = limit
				mcp.AddTool(o.Server, &mcp.Tool{Name: "stuck"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					stuckStarted <- struct{}{}
					<-ctx.Done()
					stuckEnded <- ctx.Err()
					return nil, nil, ctx.Err()
				})
				mcp.AddTool(o.Server, &mcp.Tool{Name: "finishing"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					finishingStarted <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
						return nil, nil, ctx.Err()
					}
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "finished"}}}, nil, nil
				})
			})
			cs := h.connect(t, proto, "", nil)
			type answer struct {
				res *mcp.CallToolResult
				err error
			}
			call := func(name string) chan answer {
				ch := make(chan answer, 1)
				go func() {
					res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
					ch <- answer{res, err}
				}()
				return ch
			}
			stuck, finishing := call("stuck"), call("finishing")
			for _, c := range []chan struct{}{stuckStarted, finishingStarted} {
				select {
				case <-c:
				case <-time.After(10 * time.Second):
					t.Fatal("a call did not start")
				}
			}

			t0 := time.Now()
			h.stop()
			waitFor(t, 5*time.Second, "the shutdown to begin", func() bool { return h.svc.draining.Load() })
			// The listener is closed before draining is flagged: a new
			// connection is refused while both calls still run.
			if c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "http://"), time.Second); err == nil {
				c.Close()
				t.Error("a new connection was accepted during the shutdown")
			}
			select {
			case err := <-stuckEnded:
				t.Fatalf("the stuck call was cut at once (%v), not at the limit", err)
			default:
			}

			close(release)
			select {
			case a := <-finishing:
				if a.err != nil || a.res.IsError || resultText(a.res) != "finished" {
					t.Fatalf("the call finishing within the limit: %v %v", a.err, a.res)
				}
			case <-time.After(limit + cutBound):
				t.Fatal("no answer to the call finishing within the limit")
			}

			select {
			case err := <-h.done:
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
			case <-time.After(limit + cutBound):
				t.Fatalf("Serve still running %v after the shutdown began (limit %v)", limit+cutBound, limit)
			}
			h.done <- nil // for the cleanup
			if d := time.Since(t0); d < limit {
				t.Errorf("Serve returned after %v, before the %v limit, with a call still running", d, limit)
			}
			select {
			case err := <-stuckEnded:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("the stuck call's context ended with %v, want canceled", err)
				}
			case <-time.After(cutBound):
				t.Fatal("the stuck call's context was not cancelled")
			}
			select {
			case a := <-stuck:
				if a.err == nil && !a.res.IsError {
					t.Errorf("the stuck call's client got a success: %v", resultText(a.res))
				}
			case <-time.After(cutBound):
				t.Fatal("the stuck call's client got no end")
			}
		})
	}
}
