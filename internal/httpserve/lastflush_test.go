package httpserve

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// flushCounter records how much of the body had been written at each flush.
type flushCounter struct {
	*httptest.ResponseRecorder
	at []int
}

func (f *flushCounter) Flush() {
	f.at = append(f.at, f.Body.Len())
	f.ResponseRecorder.Flush()
}

// TestHoldLastFlush runs the SDK's own handler with and without
// holdLastFlush: with it, the flush after the answer to a single request is
// held (the answer goes out with the end of the response), every flush
// before it still happens, and a batch is left alone.
func TestHoldLastFlush(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: 1, Message: "half way"}); err != nil {
				return nil, struct{}{}, err
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, struct{}{}, nil
	})
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	call := func(id string, meta string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"echo","arguments":{}` + meta + `}}`
	}
	serve := func(t *testing.T, h http.Handler, version, body string) *flushCounter {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", version)
		rec := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"done"`) {
			t.Fatalf("HTTP %d\n%s", rec.Code, rec.Body)
		}
		return rec
	}
	for _, tc := range []struct {
		name, version, body string
		held                bool
	}{
		{"one request", "2025-06-18", call("7", ""), true},
		{"string id", "2025-06-18", call(`"a,\"result\":"`, ""), true},
		{"progress first", "2025-06-18", "\n " + call("8", `,"_meta":{"progressToken":"p"}`), true},
		// Batches exist up to 2025-03-26.
		{"batch", "2025-03-26", "[" + call("1", "") + "," + call("2", "") + "]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := serve(t, sdk, tc.version, tc.body)
			held := serve(t, holdLastFlush(sdk), tc.version, tc.body)
			if len(plain.at) == 0 {
				t.Fatalf("the SDK flushed nothing:\n%s", plain.Body)
			}
			want := len(plain.at)
			if tc.held {
				want--
			}
			if len(held.at) != want {
				t.Errorf("%d flushes with holdLastFlush, %d without; want %d\n%s", len(held.at), len(plain.at), want, held.Body)
			}
			// Each flush that is left came before the answer.
			for _, n := range held.at {
				if sent := held.Body.String()[:n]; tc.held && strings.Contains(sent, `"done"`) {
					t.Errorf("a flush after the answer was not held:\n%s", sent)
				}
			}
			if strings.Contains(tc.name, "progress") && (len(held.at) != 1 || !strings.Contains(held.Body.String()[:held.at[0]], "half way")) {
				t.Errorf("the progress notification was not flushed before the answer: %v\n%s", held.at, held.Body)
			}
		})
	}
}

// TestHoldLastFlushSession: the same in a session (2025-11-25), where the
// SDK answers a POST on a stream of the session's own.
func TestHoldLastFlushSession(t *testing.T) {
	s := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, struct{}{}, nil
	})
	flushes := func(h http.Handler) int {
		post := func(session, body string) *flushCounter {
			req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			if session != "" {
				req.Header.Set("Mcp-Session-Id", session)
			}
			rec := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
			h.ServeHTTP(rec, req)
			if rec.Code/100 != 2 {
				t.Fatalf("HTTP %d\n%s", rec.Code, rec.Body)
			}
			return rec
		}
		init := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
		id := init.Header().Get("Mcp-Session-Id")
		if id == "" {
			t.Fatalf("no session id:\n%s", init.Body)
		}
		post(id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		rec := post(id, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}`)
		if !strings.Contains(rec.Body.String(), `"done"`) {
			t.Fatalf("no answer:\n%s", rec.Body)
		}
		return len(rec.at)
	}
	newHandler := func() http.Handler {
		return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	}
	plain, held := flushes(newHandler()), flushes(holdLastFlush(newHandler()))
	if plain == 0 || held != plain-1 {
		t.Errorf("%d flushes with holdLastFlush, %d without; want one fewer", held, plain)
	}
}

func TestIsAnswerEvent(t *testing.T) {
	for _, tc := range []struct {
		event string
		want  bool
	}{
		{"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n", true},
		{"event: message\nid: 3\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"x\\\"y\",\"error\":{\"code\":1}}\n\n", true},
		{"data: {\"jsonrpc\":\"2.0\",\"id\":-1,\"result\":{}}\n\n", true},
		// A request of the server's, a notification, other text.
		{"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"elicitation/create\",\"params\":{}}\n\n", false},
		{"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n", false},
		{"event: message\nxdata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n", false},
		{"data: {\"jsonrpc\":\"2.0\",\"id\":\"unterminated", false},
		{"data: {\"jsonrpc\":\"2.0\",\"id\":", false},
		{": comment\n\n", false},
	} {
		if got := isAnswerEvent([]byte(tc.event)); got != tc.want {
			t.Errorf("isAnswerEvent(%q) = %v, want %v", tc.event, got, tc.want)
		}
	}
}
