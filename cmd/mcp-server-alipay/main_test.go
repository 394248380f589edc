package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// binary is the server built once by TestMain; every test talks to it as an
// MCP client would, over stdio.
var binary string

func TestMain(m *testing.M) {
	if os.Getenv(sdkOnlyEnv) != "" && slices.Contains(os.Args[1:], sdkOnlyArg) {
		// This process is BenchmarkHTTPSDKOnly's server.
		os.Exit(runSDKOnly())
	}
	os.Unsetenv(sdkOnlyEnv) // set by mistake: not passed on to anything
	dir, err := os.MkdirTemp("", "mcp-server-alipay-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mcp-server-alipay")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a test environment: a private HOME (for the log file) and a private
// local Alipay data directory, plus AP_* settings.
type env struct {
	home, dataDir string
	vars          map[string]string
}

func newEnv(t testing.TB, vars map[string]string) *env {
	t.Helper()
	e := &env{home: t.TempDir(), dataDir: t.TempDir(), vars: map[string]string{"AP_CURRENT_ENV": "local"}}
	for k, v := range vars {
		e.vars[k] = v
	}
	return e
}

// environ is the process environment without the caller's AP_* settings,
// plus this env's.
func (e *env) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AP_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_DATA_HOME=") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+e.home, "AP_LOCAL_DATA_DIR="+e.dataDir)
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return out
}

func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = e.environ()
	return cmd
}

// lockedBuf is a buffer a subprocess pipe writes while a test reads it; the
// wire log of a session (JSON-RPC lines sent and received) is one.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// session is a client session with the server binary as a subprocess.
type session struct {
	*mcp.ClientSession
	wire   *lockedBuf
	stderr *lockedBuf
	cmd    *exec.Cmd // the server process
}

// connect starts the binary in e and opens a client session to it.
func (e *env) connect(t testing.TB) *session {
	t.Helper()
	return e.connectOpts(t, "e2e-test", nil, nil)
}

// connectOpts starts the binary in e and opens a session from a client with
// opts; sopts may pin the protocol version. The wire traffic is logged.
func (e *env) connectOpts(t testing.TB, name string, opts *mcp.ClientOptions, sopts *mcp.ClientSessionOptions) *session {
	t.Helper()
	cmd := e.command()
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	w := &lockedBuf{}
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: "0"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.LoggingTransport{Transport: &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, Writer: w}, sopts)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { cs.Close() })
	return &session{ClientSession: cs, wire: w, stderr: stderr, cmd: cmd}
}

// call invokes a tool with arguments given as JSON text.
func (s *session) call(t testing.TB, tool, args string) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
	if err != nil {
		t.Fatalf("%s %s: protocol error: %v\nserver stderr:\n%s", tool, args, err, s.stderr.String())
	}
	return res
}

func resText(res *mcp.CallToolResult) string { return resultText(res) }

func mustOK(t testing.TB, res *mcp.CallToolResult) {
	t.Helper()
	if res.IsError {
		t.Fatalf("want success, got tool error:\n%s", resText(res))
	}
	if res.StructuredContent == nil {
		t.Fatalf("success without structuredContent:\n%s", resText(res))
	}
}

func mustToolError(t testing.TB, res *mcp.CallToolResult, subs ...string) {
	t.Helper()
	if !res.IsError {
		t.Fatalf("want a tool error, got success:\n%s", resText(res))
	}
	if res.StructuredContent != nil {
		t.Errorf("tool error carries structuredContent: %v", res.StructuredContent)
	}
	for _, s := range subs {
		if !strings.Contains(resText(res), s) {
			t.Errorf("error text lacks %q:\n%s", s, resText(res))
		}
	}
}

// orderNo returns a unique order number for a test.
func orderNo(prefix string) string {
	return prefix + "-" + time.Now().Format("150405") + "-" + randomHex(4)
}
