package main

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// rawWire is the server binary driven with hand-written JSON-RPC lines, for
// what an SDK client cannot send: exact id spellings, invalid UTF-8, lone
// surrogates.
type rawWire struct {
	t      *testing.T
	in     io.WriteCloser
	lines  chan string
	stderr *lockedBuf
}

// startRaw starts the binary in e and initializes a session by hand.
func startRaw(t *testing.T, e *env) *rawWire {
	t.Helper()
	cmd := e.command()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w := &rawWire{t: t, in: in, lines: make(chan string, 64), stderr: &lockedBuf{}}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
		close(w.lines)
	}()
	w.send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
	if got := w.next(); !strings.Contains(got, `"id":"init"`) {
		t.Fatalf("initialize answered with %s", got)
	}
	w.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return w
}

// send writes one line as is.
func (w *rawWire) send(line string) {
	w.t.Helper()
	if _, err := io.WriteString(w.in, line+"\n"); err != nil {
		w.t.Fatalf("write: %v\nstderr:\n%s", err, w.stderr.String())
	}
}

// next is the next line the server writes.
func (w *rawWire) next() string {
	w.t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			w.t.Fatalf("the server closed stdout\nstderr:\n%s", w.stderr.String())
		}
		return l
	case <-time.After(30 * time.Second):
		w.t.Fatalf("no answer within 30s\nstderr:\n%s", w.stderr.String())
	}
	return ""
}

// rawID is the id of an answer exactly as written on the wire.
func rawID(t *testing.T, line string) string {
	t.Helper()
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, line)
	}
	return string(m.ID)
}
