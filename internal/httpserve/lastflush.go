package httpserve

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
)

// holdLastFlush saves the answer to a single JSON-RPC request one write to
// the network. The SDK flushes every event of a POST's event stream as it
// writes it, the final answer included, and then returns; net/http then
// writes the end of the chunked body on its own. Left to the handler's end,
// the answer and the end of the body go out in one write, and the client
// reads them at once: one system call less on each side, a call that the
// HTTP benchmark makes a thousand times a second.
//
// Only the flush after the answer is held, and only when the POST carries
// one JSON object (a single request: the SDK answers a notification or a
// response with 202 and no stream, and a batch with several answers).
// Progress and other notifications before the answer still go out as they
// are written. The answer is recognised as the SDK writes it, in one Write:
// an event whose data is {"jsonrpc":"2.0","id":…,"result" or "error":…}.
// Anything else is flushed as before, so a change in the SDK's encoding
// costs the saved write, never an event held back.
func holdLastFlush(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		br := bufio.NewReaderSize(r.Body, 64)
		r.Body = struct {
			io.Reader
			io.Closer
		}{br, r.Body}
		if !startsObject(br) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&lastFlushWriter{ResponseWriter: w}, r)
	})
}

// startsObject reports whether the first byte of the body that is not
// white space opens a JSON object. It only peeks: the handler reads the
// whole body after it.
func startsObject(br *bufio.Reader) bool {
	for n := 1; n <= br.Size(); n++ {
		b, _ := br.Peek(n)
		if len(b) < n {
			return false
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// lastFlushWriter drops the flushes that follow the answer.
type lastFlushWriter struct {
	http.ResponseWriter
	answered bool
}

func (w *lastFlushWriter) Write(p []byte) (int, error) {
	if !w.answered && isAnswerEvent(p) {
		w.answered = true
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes a flush on until the answer has been written; after it, the
// handler is about to return and net/http sends the rest.
func (w *lastFlushWriter) Flush() {
	if w.answered {
		return
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush() // best effort, as the SDK's own
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *lastFlushWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isAnswerEvent reports whether p is one server-sent event whose data is a
// JSON-RPC response as the SDK encodes it.
func isAnswerEvent(p []byte) bool {
	i := bytes.Index(p, []byte("data: "))
	if i < 0 || (i > 0 && p[i-1] != '\n') {
		return false
	}
	rest, ok := bytes.CutPrefix(p[i+len("data: "):], []byte(`{"jsonrpc":"2.0","id":`))
	if !ok || len(rest) == 0 {
		return false
	}
	// Skip the id: a string (with its escapes) or a number.
	end := 0
	if rest[0] == '"' {
		end = 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		end++
	} else {
		for end < len(rest) && rest[end] != ',' && rest[end] != '}' {
			end++
		}
	}
	if end >= len(rest) {
		return false
	}
	rest = rest[end:]
	return bytes.HasPrefix(rest, []byte(`,"result":`)) || bytes.HasPrefix(rest, []byte(`,"error":`))
}
