package rpcid

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const initLine = `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`

// wire runs a real SDK server over in-memory pipes, through the transport
// t makes, and talks to it in raw lines.
type wire struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

func newWire(t *testing.T, transport func(io.ReadCloser, io.WriteCloser) mcp.Transport) *wire {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	srv := mcp.NewServer(&mcp.Implementation{Name: "rpcid-test", Version: "0"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Run(ctx, transport(inR, outW))
		outW.Close()
	}()
	t.Cleanup(func() {
		inW.Close()
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	w := &wire{t: t, in: inW, out: bufio.NewScanner(outR)}
	w.send(initLine)
	w.recv()
	w.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return w
}

func (w *wire) send(line string) {
	w.t.Helper()
	if _, err := io.WriteString(w.in, line+"\n"); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wire) recv() string {
	w.t.Helper()
	got := make(chan string, 1)
	go func() {
		if w.out.Scan() {
			got <- w.out.Text()
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		if !ok {
			w.t.Fatal("server closed its output")
		}
		return l
	case <-time.After(10 * time.Second):
		w.t.Fatal("no answer within 10s")
	}
	return ""
}

// answer is an answer's id as written and its error code, if any.
func answer(t *testing.T, line string) (id string, code int) {
	t.Helper()
	var m struct {
		ID    json.RawMessage `json:"id"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if m.Error != nil {
		code = m.Error.Code
	}
	return string(m.ID), code
}

func bare(in io.ReadCloser, out io.WriteCloser) mcp.Transport {
	return &mcp.IOTransport{Reader: in, Writer: out}
}

func wrapped(in io.ReadCloser, out io.WriteCloser) mcp.Transport {
	return Transport(NewMapper(), in, out)
}

// TestSDKManglesIDs records the SDK behaviour this package works around.
// When it fails, the SDK keeps ids exact (upstream PR #1253 has landed):
// delete this package and use mcp.StdioTransport again.
func TestSDKManglesIDs(t *testing.T) {
	w := newWire(t, bare)
	for _, tt := range []struct{ sent, answered string }{
		{"9007199254740993", "9007199254740992"},
		{"9223372036854775807", "-9223372036854775808"},
		{"18446744073709551617", "-9223372036854775808"},
		{"1.5", "1"},
	} {
		w.send(`{"jsonrpc":"2.0","id":` + tt.sent + `,"method":"ping"}`)
		if id, _ := answer(t, w.recv()); id != tt.answered {
			t.Errorf("bare SDK answered id %s with %s, want (the known bug) %s", tt.sent, id, tt.answered)
		}
	}
}

// Through the Transport, every request is answered under exactly the id it
// carried, or refused as Invalid Request under that id.
func TestTransportKeepsIDs(t *testing.T) {
	w := newWire(t, wrapped)
	tests := []struct {
		id   string
		code int // 0: answered; -32600: refused
	}{
		{"1", 0},
		{"0", 0},
		{`"abc"`, 0},
		{`"9007199254740993"`, 0},
		{"9007199254740992", 0},
		{"9007199254740993", 0},
		{"-9007199254740993", 0},
		{"9223372036854775807", 0},
		{"-9223372036854775808", 0},
		{"-0", 0},
		{"1.5", -32600},
		{"1.0", -32600},
		{"1e3", -32600},
		{"9223372036854775808", -32600},
		{"18446744073709551617", -32600},
		{"true", -32600},
		{"{}", -32600},
		{"[1]", -32600},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			w.send(`{"jsonrpc":"2.0","id":` + tt.id + `,"method":"ping"}`)
			id, code := answer(t, w.recv())
			if id != tt.id || code != tt.code {
				t.Errorf("sent id %s: answered id %s code %d, want id %s code %d", tt.id, id, code, tt.id, tt.code)
			}
		})
	}
	// The session lives on after refusals, and a tools/list under a big id
	// is answered under it too.
	w.send(`{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}`)
	if id, code := answer(t, w.recv()); id != "12345678901234567890" || code != -32600 {
		t.Errorf("above int64: id %s code %d", id, code)
	}
	w.send(`{"jsonrpc":"2.0","id":9007199254740995,"method":"tools/list"}`)
	if id, _ := answer(t, w.recv()); id != "9007199254740995" {
		t.Errorf("tools/list answered under %s", id)
	}
}

func TestMapper(t *testing.T) {
	m := NewMapper()
	in := []byte(`{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"x"}}`)
	fwd, refusal := m.Inbound(in)
	if refusal != nil || string(fwd) == string(in) || !strings.Contains(string(fwd), `"params":{"name":"x"}`) {
		t.Fatalf("Inbound = %s, %s", fwd, refusal)
	}
	var sent struct{ ID string }
	if err := json.Unmarshal(fwd, &sent); err != nil || sent.ID == "" {
		t.Fatalf("substitute is not a string id: %s", fwd)
	}
	// A cancellation follows the substitute.
	cancel := []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993}}`)
	cfwd, _ := m.Inbound(cancel)
	if !strings.Contains(string(cfwd), `"requestId":"`+sent.ID+`"`) {
		t.Errorf("cancellation not mapped: %s", cfwd)
	}
	// Untouched: small ids, strings, notifications, responses to the server,
	// and anything that is not JSON.
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":"s","method":"ping"}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":9007199254740993,"result":{}}`,
		`hello`,
		`{"jsonrpc":"2.0","id":1,"method":"ping"} junk`,
	} {
		if got, ref := m.Inbound([]byte(s)); string(got) != s || ref != nil {
			t.Errorf("Inbound(%s) = %s, %s", s, got, ref)
		}
	}
	// The answer maps back, once.
	out := m.Outbound([]byte(`{"jsonrpc":"2.0","id":"` + sent.ID + `","result":{}}`))
	if string(out) != `{"jsonrpc":"2.0","id":9007199254740993,"result":{}}` {
		t.Errorf("Outbound = %s", out)
	}
	if m.Pending() != 0 {
		t.Errorf("%d substitutes left", m.Pending())
	}
	// A batch with a bad id is refused whole, one error per request.
	batch := `[{"jsonrpc":"2.0","id":1.5,"method":"ping"},{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]`
	fwd, refusal = m.Inbound([]byte(batch))
	var errs []struct {
		ID    json.RawMessage
		Error struct{ Code int }
	}
	if fwd != nil || json.Unmarshal(refusal, &errs) != nil || len(errs) != 2 ||
		string(errs[0].ID) != "1.5" || string(errs[1].ID) != "9007199254740993" || errs[0].Error.Code != -32600 || m.Pending() != 0 {
		t.Errorf("batch: forward %s, refusal %s, pending %d", fwd, refusal, m.Pending())
	}
	// A good batch is substituted element by element and mapped back.
	batch = `[{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]`
	fwd, _ = m.Inbound([]byte(batch))
	var reqs []struct{ ID json.RawMessage }
	if err := json.Unmarshal(fwd, &reqs); err != nil || len(reqs) != 2 || string(reqs[1].ID) != "2" {
		t.Fatalf("batch forward: %s", fwd)
	}
	back := m.Outbound([]byte(`[{"jsonrpc":"2.0","id":` + string(reqs[0].ID) + `,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}]`))
	if string(back) != `[{"jsonrpc":"2.0","id":9007199254740993,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}]` {
		t.Errorf("batch back: %s", back)
	}
}

// Handler does the same for HTTP, in JSON answers and in event streams.
func TestHandler(t *testing.T) {
	for _, jsonResponse := range []bool{true, false} {
		t.Run(map[bool]string{true: "json", false: "sse"}[jsonResponse], func(t *testing.T) {
			srv := mcp.NewServer(&mcp.Implementation{Name: "rpcid-test", Version: "0"}, nil)
			h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
				&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: jsonResponse})
			ts := httptest.NewServer(Handler(NewMapper(), h))
			defer ts.Close()
			post := func(body string) (int, string) {
				req, _ := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				s := string(b)
				if i := strings.Index(s, "data:"); i >= 0 {
					s = strings.TrimSpace(strings.SplitN(s[i+len("data:"):], "\n", 2)[0])
				}
				return resp.StatusCode, s
			}
			for _, id := range []string{"9007199254740993", "9223372036854775807", "-0", "5"} {
				status, body := post(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/list","params":{}}`)
				if got, code := answer(t, body); status != http.StatusOK || got != id || code != 0 {
					t.Errorf("id %s: HTTP %d, answered %s (code %d): %s", id, status, got, code, body)
				}
			}
			status, body := post(`{"jsonrpc":"2.0","id":1.5,"method":"tools/list","params":{}}`)
			if got, code := answer(t, body); status != http.StatusBadRequest || got != "1.5" || code != -32600 {
				t.Errorf("fractional id: HTTP %d, %s", status, body)
			}
		})
	}
}

// Two scopes (HTTP sessions) using the same id at once: each cancellation
// reaches its own request only, and answering one leaves the other mapped.
func TestMapperScopes(t *testing.T) {
	m := NewMapper()
	in := []byte(`{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"x"}}`)
	subOf := func(scope string) string {
		t.Helper()
		fwd, refusal := m.InboundScoped(scope, in)
		var sent struct{ ID string }
		if refusal != nil || json.Unmarshal(fwd, &sent) != nil || sent.ID == "" {
			t.Fatalf("InboundScoped(%q) = %s, %s", scope, fwd, refusal)
		}
		return sent.ID
	}
	a, b := subOf("session-a"), subOf("session-b")
	if a == b {
		t.Fatalf("one substitute for two sessions: %s", a)
	}
	cancel := []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9007199254740993}}`)
	for scope, want := range map[string]string{"session-a": a, "session-b": b} {
		if got, _ := m.InboundScoped(scope, cancel); !strings.Contains(string(got), `"requestId":"`+want+`"`) {
			t.Errorf("cancellation in %s = %s, want its own substitute %s", scope, got, want)
		}
	}
	// Session a's answer goes out; b's request is still cancellable as b's.
	if out := m.Outbound([]byte(`{"jsonrpc":"2.0","id":"` + a + `","result":{}}`)); string(out) != `{"jsonrpc":"2.0","id":9007199254740993,"result":{}}` {
		t.Fatalf("Outbound = %s", out)
	}
	if got, _ := m.InboundScoped("session-b", cancel); !strings.Contains(string(got), `"requestId":"`+b+`"`) {
		t.Errorf("after a's answer, b's cancellation = %s", got)
	}
	// A cancellation in a third session touches neither.
	if got, _ := m.InboundScoped("session-c", cancel); string(got) != string(cancel) {
		t.Errorf("cancellation of another session was mapped: %s", got)
	}
	m.Outbound([]byte(`{"jsonrpc":"2.0","id":"` + b + `","result":{}}`))
	if m.Pending() != 0 {
		t.Errorf("%d substitutes left", m.Pending())
	}
}

// A body without Content-Length that outgrows the server's limit
// (http.MaxBytesReader, set outside this handler) is answered 413 with the
// limit, not 400 as if it were malformed, and never reaches the handler.
func TestHandlerBodyTooLarge(t *testing.T) {
	ran := false
	h := Handler(NewMapper(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }))
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":"` + strings.Repeat("x", 2000) + `"}}`
	req := httptest.NewRequest(http.MethodPost, "/mcp", io.MultiReader(strings.NewReader(body))) // no length known
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	req.Body = http.MaxBytesReader(rec, req.Body, 1000)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "1000") || ran {
		t.Errorf("oversized chunked body: HTTP %d %q (handler ran: %v); want 413 naming the limit", rec.Code, rec.Body.String(), ran)
	}
}

// An event stream written in pieces that split lines comes out byte for
// byte, whichever writes take the pass-through path, and a substitute in a
// split line is still mapped back.
func TestHandlerEventStreamPieces(t *testing.T) {
	m := NewMapper()
	sub := substituteOf(t, m, `{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list","params":{}}`)
	pieces := []string{
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n", // whole lines
		"event: message\nda",                         // a line cut short
		"ta: {\"jsonrpc\":\"2.0\",\"id\":" + sub[:5], // the substitute cut too
		sub[5:] + ",\"result\":{}}\n\n",
		": done\n\n", // whole lines again
	}
	want := strings.Join(pieces, "")
	want = strings.Replace(want, sub, "9007199254740993", 1)
	h := Handler(m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for _, p := range pieces {
			io.WriteString(w, p)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/mcp", nil))
	if got := rec.Body.String(); got != want {
		t.Errorf("stream\n got %q\nwant %q", got, want)
	}
}

// Answers are mapped back by their media type, whatever its case and
// parameters; a body of another type passes unchanged.
func TestHandlerMediaTypes(t *testing.T) {
	for _, tc := range []struct {
		ct     string
		sse    bool
		mapped bool
	}{
		{"application/json", false, true},
		{"Application/JSON; charset=utf-8", false, true},
		{" text/event-stream ;charset=utf-8", true, true},
		{"TEXT/EVENT-STREAM", true, true},
		{"text/plain", false, false},
	} {
		m := NewMapper()
		sub := substituteOf(t, m, `{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}`)
		answer := `{"jsonrpc":"2.0","id":` + sub + `,"result":{}}`
		if tc.sse {
			answer = "event: message\ndata: " + answer + "\n\n"
		}
		h := Handler(m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tc.ct)
			io.WriteString(w, answer)
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/mcp", nil))
		want := answer
		if tc.mapped {
			want = strings.Replace(answer, sub, "9007199254740993", 1)
		}
		if got := rec.Body.String(); got != want {
			t.Errorf("Content-Type %q:\n got %q\nwant %q", tc.ct, got, want)
		}
	}
}

// Only JSON's own white space is trimmed: a message with a form feed or a
// vertical tab around it reaches the SDK as sent (which refuses it), with
// no substitute made, whatever its id.
func TestInboundNotJSONSpace(t *testing.T) {
	for _, msg := range []string{
		"\v{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"ping\"}\f",
		"\u00a0{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"ping\"}",
	} {
		m := NewMapper()
		fwd, refusal := m.Inbound([]byte(msg))
		if string(fwd) != msg || refusal != nil || m.Pending() != 0 {
			t.Errorf("Inbound(%q) = %q, %q with %d pending; want it unchanged", msg, fwd, refusal, m.Pending())
		}
	}
	m := NewMapper()
	msg := " \t\r\n{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"ping\"}\n"
	if fwd, _ := m.Inbound([]byte(msg)); string(fwd) == msg || m.Pending() != 1 {
		t.Errorf("Inbound(%q) = %q with %d pending; want the id substituted", msg, fwd, m.Pending())
	}
}

// substituteOf passes msg through m and returns the id the SDK gets
// instead of the one sent, as JSON text.
func substituteOf(t *testing.T, m *Mapper, msg string) string {
	t.Helper()
	fwd, refusal := m.Inbound([]byte(msg))
	if refusal != nil {
		t.Fatalf("refused: %s", refusal)
	}
	var sent struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(fwd, &sent); err != nil {
		t.Fatal(err)
	}
	return string(sent.ID)
}
