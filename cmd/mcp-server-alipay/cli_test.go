package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Every subcommand explains itself in both languages: asked with --help or
// -h, on stdout with exit 0; after a usage error, on stderr with exit 2.
func TestSubcommandUsage(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		args []string
		code int // 0: help on stdout; 2: usage error on stderr
		want []string
	}{
		{[]string{"demo", "--help"}, 0, []string{"用法 / Usage: mcp-server-alipay demo", "--data-dir", "no real money"}},
		{[]string{"demo", "-h"}, 0, []string{"用法 / Usage: mcp-server-alipay demo"}},
		{[]string{"doctor", "--help"}, 0, []string{"用法 / Usage: mcp-server-alipay doctor", "Exit code", "退出码"}},
		{[]string{"doctor", "-h"}, 0, []string{"用法 / Usage: mcp-server-alipay doctor", "Exit code", "退出码"}},
		{[]string{"serve", "--help"}, 0, []string{"用法 / Usage: mcp-server-alipay [serve | stdio]", "MCP client"}},
		{[]string{"stdio", "-h"}, 0, []string{"用法 / Usage: mcp-server-alipay [serve | stdio]"}},
		{[]string{"sandbox", "--help"}, 0, []string{"mcp-server-alipay sandbox [--listen ADDR] [--data-dir DIR]", "LOCAL Alipay", "监听地址"}},
		{[]string{"sandbox", "-h"}, 0, []string{"mcp-server-alipay sandbox [--listen ADDR] [--data-dir DIR]"}},
		{[]string{"sandbox", "pay", "--help"}, 0, []string{"sandbox pay OUT_TRADE_NO", "without a browser", "--url"}},
		{[]string{"sandbox", "trades", "-h"}, 0, []string{"sandbox trades", "--url"}},
		{[]string{"demo", "extra"}, 2, []string{`unexpected argument "extra"`, "不接受参数", "用法 / Usage: mcp-server-alipay demo"}},
		{[]string{"demo", "--nope"}, 2, []string{"-nope", "invalid flag", "无效的参数", "用法 / Usage: mcp-server-alipay demo"}},
		{[]string{"doctor", "extra"}, 2, []string{`unexpected argument "extra"`, "用法 / Usage: mcp-server-alipay doctor"}},
		{[]string{"doctor", "--nope"}, 2, []string{"-nope", "用法 / Usage: mcp-server-alipay doctor"}},
		{[]string{"stdio", "extra"}, 2, []string{`unexpected argument "extra"`, "用法 / Usage: mcp-server-alipay [serve | stdio]"}},
		{[]string{"serve", "--nope"}, 2, []string{"-nope", "用法 / Usage: mcp-server-alipay [serve | stdio]"}},
		{[]string{"sandbox", "--nope"}, 2, []string{"-nope", "invalid flag", "mcp-server-alipay sandbox [--listen ADDR] [--data-dir DIR]"}},
		{[]string{"sandbox", "pay", "--nope"}, 2, []string{"-nope", "invalid flag", "sandbox pay OUT_TRADE_NO"}},
		{[]string{"sandbox", "pay"}, 2, []string{"wants 1 argument", "sandbox pay OUT_TRADE_NO"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runBinary(t, e, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, tt.code, stderr)
			}
			got, quiet := stderr, stdout
			if tt.code == 0 {
				got, quiet = stdout, stderr
			}
			if quiet != "" {
				t.Errorf("the other stream is not empty: %q", quiet)
			}
			if strings.Contains(got, "Usage of ") {
				t.Errorf("bare flag usage:\n%s", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// Started with stdin on /dev/null (a character device, not a terminal),
// the server prints no hint for a person and exits when stdin ends.
func TestNoTerminalHintOnDevNull(t *testing.T) {
	stdout, stderr, code := runBinary(t, newEnv(t, nil))
	if code != 0 || stdout != "" {
		t.Errorf("exit %d, stdout %q\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "Waiting for an MCP client") {
		t.Errorf("/dev/null taken for a terminal:\n%s", stderr)
	}
}

// A log file left with a wider mode is made private (0600) and appended to.
func TestLogFileMadePrivate(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_LOG_ENABLED": "true"})
	path := filepath.Join(e.home, "mcp-server-alipay.log")
	if err := os.WriteFile(path, []byte("{\"old\":true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if _, stderr, code := runBinary(t, e); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "{\"old\":true}\n") || !strings.Contains(string(b), "server start") {
		t.Errorf("log not appended to:\n%s", b)
	}
	// The start line states the links' expiry: a day by default.
	if !strings.Contains(string(b), `"pay_timeout":"24h0m0s"`) {
		t.Errorf("the start line does not state the payment expiry:\n%s", b)
	}
}

// A line that is not JSON-RPC ends the session, as in the MCP SDK; stdout
// stays empty (JSON-RPC only) and stderr explains it in both languages.
func TestGarbageInputExplained(t *testing.T) {
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
	tests := []struct {
		name, input string
	}{
		{"not JSON", "hello server\n"},
		{"not JSON-RPC", `{"foo":1}` + "\n"},
		{"junk after a message", init + " junk\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runBinaryInput(t, newEnv(t, nil), strings.NewReader(tt.input))
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout carries non-JSON-RPC text: %q", stdout)
			}
			for _, w := range []string{"不是有效的 JSON-RPC 消息", "not a valid JSON-RPC message", "one JSON-RPC 2.0 message per line", "mcp-server-alipay demo"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// Amounts in structured content are read back as exact fen: never rounded
// through a float format, so a value that is not an amount is not one.
func TestStructuredFieldAmounts(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{19.99, "19.99"}, {0.07, "0.07"}, {0.29, "0.29"}, {199.0, "199.00"}, {100000000.0, "100000000.00"},
		{1.005, ""}, {0.001, ""}, {"TRADE_SUCCESS", "TRADE_SUCCESS"}, {nil, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.v), func(t *testing.T) {
			res := &mcp.CallToolResult{StructuredContent: map[string]any{"k": tt.v}}
			if got := structuredField(res, "k"); got != tt.want {
				t.Errorf("structuredField(%v) = %q, want %q", tt.v, got, tt.want)
			}
		})
	}
}

// Every command refuses arguments it does not take the same way: exit 2, the
// reason on stderr in both languages, nothing on stdout.
func TestExtraArgumentsRefused(t *testing.T) {
	e := newEnv(t, nil)
	for _, args := range [][]string{
		{"help", "extra"}, {"--help", "extra"}, {"help", "demo", "extra"}, {"version", "extra"}, {"--version", "extra"},
		{"doctor", "extra"}, {"demo", "extra"}, {"sandbox", "extra"}, {"serve", "extra"}, {"stdio", "extra"},
		{"http", "extra"}, {"sandbox", "trades", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := runBinary(t, e, args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, "extra") || !hasHanAndLatin(stderr) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
			}
		})
	}
	// help COMMAND is COMMAND --help.
	stdout, _, code := runBinary(t, e, "help", "demo")
	if code != 0 || !strings.Contains(stdout, "用法 / Usage: mcp-server-alipay demo") {
		t.Errorf("help demo: exit %d\n%s", code, stdout)
	}
}
