package rpcid

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxLine is the longest line that is examined (the SDK's own default cap);
// a longer one passes unchanged and the SDK refuses it.
const maxLine = mcp.DefaultMaxLineLength

// Transport is an MCP transport over a newline-delimited stream, such as
// stdin and stdout, that keeps request ids exact. Closing it closes in, not
// out (as mcp.StdioTransport does).
func Transport(m *Mapper, in io.ReadCloser, out io.Writer) mcp.Transport {
	r, w := Stdio(m, in, out)
	return &mcp.IOTransport{Reader: r, Writer: w}
}

// Stdio wraps a newline-delimited JSON-RPC stream: the SDK reads the
// returned reader and writes the returned writer. Refusals are written to
// out between the SDK's own lines, never inside one.
func Stdio(m *Mapper, in io.ReadCloser, out io.Writer) (io.ReadCloser, io.WriteCloser) {
	w := &lineWriter{m: m, out: out}
	return &lineReader{m: m, in: in, br: bufio.NewReaderSize(in, 64<<10), w: w}, w
}

// lineReader hands the SDK one rewritten line at a time.
type lineReader struct {
	m    *Mapper
	in   io.Closer
	br   *bufio.Reader
	w    *lineWriter
	buf  []byte // what the SDK has not read yet
	long bool   // inside a line longer than maxLine: pass it through
}

func (r *lineReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		line, err := r.readLine()
		if len(line) > 0 {
			r.buf = line
			break
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// readLine reads up to and including the next newline and returns what the
// SDK should see of it (nothing, when it was refused).
func (r *lineReader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if r.long {
			if errors.Is(err, bufio.ErrBufferFull) {
				return bytes.Clone(chunk), nil
			}
			r.long = false
			return bytes.Clone(chunk), err
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line) > maxLine {
				r.long = true
				return line, nil
			}
			continue
		}
		if len(line) == 0 {
			return nil, err
		}
		fwd, refusal := r.m.Inbound(line)
		if refusal != nil {
			if werr := r.w.writeLine(refusal); werr != nil {
				return nil, werr
			}
			return nil, err
		}
		if bytes.HasSuffix(line, []byte("\n")) && !bytes.HasSuffix(fwd, []byte("\n")) {
			fwd = append(fwd, '\n')
		}
		return fwd, err
	}
}

func (r *lineReader) Close() error { return r.in.Close() }

// lineWriter maps ids back in each complete line the SDK writes.
type lineWriter struct {
	m   *Mapper
	mu  sync.Mutex
	out io.Writer
	buf []byte // a partial line
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.m.Outbound(w.buf[:i])
		if _, err := w.out.Write(append(bytes.Clone(line), '\n')); err != nil {
			return 0, err
		}
		w.buf = w.buf[i+1:]
	}
}

// writeLine writes one whole line of our own.
func (w *lineWriter) writeLine(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.out.Write(append(bytes.Clone(b), '\n'))
	return err
}

func (w *lineWriter) Close() error { return nil }
