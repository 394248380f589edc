package rpcid

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxBody is the largest request body that is examined; a larger one
// passes unchanged.
const maxBody = 16 << 20

// Handler keeps request ids exact for an HTTP JSON-RPC handler (such as
// mcp.StreamableHTTPHandler): ids in POST bodies are checked and substituted
// as by Mapper.Inbound (a refused request is answered 400 with the -32600
// error), and ids in the answers, application/json bodies or
// text/event-stream "data:" lines, are put back.
func Handler(m *Mapper, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Body != nil {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				// A body without Content-Length that outgrew the server's
				// limit (http.MaxBytesReader): too large, not malformed.
				http.Error(w, fmt.Sprintf("请求体超过 %d 字节 / request body exceeds %d bytes", tooLarge.Limit, tooLarge.Limit), http.StatusRequestEntityTooLarge)
				return
			case err != nil:
				http.Error(w, "读取请求失败 / reading the request failed", http.StatusBadRequest)
				return
			}
			if len(body) <= maxBody {
				// A session's cancellations reach only its own requests.
				fwd, refusal := m.InboundScoped(r.Header.Get("Mcp-Session-Id"), body)
				if refusal != nil {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					w.Write(refusal)
					return
				}
				body = fwd
				r.ContentLength = int64(len(body))
				r.Header.Set("Content-Length", strconv.Itoa(len(body)))
				r.Body = io.NopCloser(bytes.NewReader(body))
			} else {
				r.Body = struct {
					io.Reader
					io.Closer
				}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
			}
		}
		rw := &responseWriter{ResponseWriter: w, m: m}
		next.ServeHTTP(rw, r)
		rw.finish()
	})
}

// responseWriter maps ids back: a JSON body when the handler is done, an
// event stream line by line as it is written.
type responseWriter struct {
	http.ResponseWriter
	m           *Mapper
	kind        int // 0 undecided, 1 JSON (buffered), 2 event stream, 3 other
	wroteHeader bool
	status      int
	buf         bytes.Buffer
}

const (
	kindUndecided = iota
	kindJSON
	kindSSE
	kindOther
)

func (w *responseWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = status
	switch mediaType(w.Header().Get("Content-Type")) {
	case "application/json":
		w.kind = kindJSON
		w.Header().Del("Content-Length") // the ids may change length
		return                           // sent with the body in finish
	case "text/event-stream":
		w.kind = kindSSE
	default:
		w.kind = kindOther
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	switch w.kind {
	case kindJSON:
		return w.buf.Write(p)
	case kindSSE:
		if w.buf.Len() == 0 && bytes.HasSuffix(p, []byte("\n")) && !bytes.Contains(p, []byte(w.m.prefix)) {
			// Whole lines naming no substitute (every event of a call
			// whose id the SDK keeps): nothing to map.
			return w.ResponseWriter.Write(p)
		}
		w.buf.Write(p)
		for {
			line, err := w.buf.ReadBytes('\n')
			if err != nil { // no newline yet: keep the partial line
				rest := append(line, w.buf.Bytes()...)
				w.buf.Reset()
				w.buf.Write(rest)
				return len(p), nil
			}
			if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				// Keep the space after "data:" as it was.
				msg := bytes.TrimLeft(data, " ")
				line = append(append([]byte("data:"), data[:len(data)-len(msg)]...), w.m.Outbound(msg)...)
				if !bytes.HasSuffix(line, []byte("\n")) {
					line = append(line, '\n')
				}
			}
			if _, err := w.ResponseWriter.Write(line); err != nil {
				return 0, err
			}
		}
	}
	return w.ResponseWriter.Write(p)
}

// mediaType is the media type of a Content-Type value, in lower case and
// without its parameters.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// Flush passes a flush on (server-sent events need it); a JSON body is
// sent only when complete.
func (w *responseWriter) Flush() {
	if w.kind == kindJSON {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish sends a buffered JSON body, or what remains of an event stream.
func (w *responseWriter) finish() {
	switch w.kind {
	case kindJSON:
		body := w.m.Outbound(w.buf.Bytes())
		w.ResponseWriter.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.ResponseWriter.WriteHeader(w.status)
		w.ResponseWriter.Write(body)
	case kindSSE:
		if w.buf.Len() > 0 {
			w.ResponseWriter.Write(w.buf.Bytes())
		}
	}
}
