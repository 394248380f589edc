package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
)

// hostTarget is the target of this machine; tests that run binaries need it.
func hostTarget(t testing.TB) Target {
	t.Helper()
	tg := Target{runtime.GOOS, runtime.GOARCH}
	if !slices.Contains(Targets, tg) || runtime.GOOS == "windows" {
		t.Skipf("no release binary runs on %s", tg)
	}
	return tg
}

// checkNpm installs the main package's tarball and this platform's from
// their file paths into an empty prefix, with an empty npm cache and no
// registry, and runs the server through the installed bin and through npx:
// once as npm installs by default (the postinstall puts the binary in place
// of the launcher), once with --ignore-scripts (the JS launcher runs it).
func checkNpm(ctx context.Context, t *testing.T, out, semver string) {
	host := hostTarget(t)
	mainTgz := filepath.Join(out, PackageName+"-"+semver+".tgz")
	platTgz := filepath.Join(out, PlatformPackage(host)+"-"+semver+".tgz")
	install := func(t *testing.T, flags ...string) string {
		prefix := t.TempDir()
		args := append([]string{"install", "--no-audit", "--no-fund", "--prefer-offline"}, flags...)
		runIn(ctx, t, prefix, append(localEnv(t), offlineNpm(t)...), "npm", append(args, mainTgz, platTgz)...)
		return prefix
	}
	bare := filepath.Join(out, host.BinaryName())

	t.Run("installed", func(t *testing.T) {
		prefix := install(t)
		bin := filepath.Join(prefix, "node_modules", ".bin", PackageName)
		// The postinstall handed over: the command is the binary itself.
		real, err := filepath.EvalSymlinks(bin)
		if err != nil {
			t.Fatal(err)
		}
		sameFile(t, real, bare)
		t.Run("bin serves MCP", func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Env = localEnv(t)
			serveCheck(t, cmd)
		})
		t.Run("npx serves MCP", func(t *testing.T) {
			cmd := exec.Command("npx", "--no", PackageName)
			cmd.Dir = prefix
			cmd.Env = append(localEnv(t), offlineNpm(t)...)
			serveCheck(t, cmd)
		})
	})

	t.Run("installed with --ignore-scripts", func(t *testing.T) {
		prefix := install(t, "--ignore-scripts")
		bin := filepath.Join(prefix, "node_modules", ".bin", PackageName)
		if b, err := os.ReadFile(bin); err != nil || !bytes.HasPrefix(b, []byte("#!/usr/bin/env node\n")) {
			t.Fatalf("without scripts the command should be the JS launcher: %v %.40q", err, b)
		}
		t.Run("npx serves MCP", func(t *testing.T) {
			cmd := exec.Command("npx", "--no", PackageName)
			cmd.Dir = prefix
			cmd.Env = append(localEnv(t), offlineNpm(t)...)
			serveCheck(t, cmd)
		})
		// The system's Node (20 on CI) has no execve: the launcher runs the
		// binary as a child. interop's Node 22 has it: the launcher hands the
		// process over.
		t.Run("launcher is transparent", func(t *testing.T) {
			checkLauncher(t, []string{bin}, bare, func(t *testing.T, pid int) {
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); filepath.Base(exe) != "node" {
					t.Errorf("under Node 20 the launcher should stay as node, the process is %s", exe)
				}
			})
		})
		t.Run("launcher hands over on Node 22", func(t *testing.T) {
			node22 := filepath.Join(nodeinterop.Dir(t), "node_modules", ".bin", "node")
			platformBin := filepath.Join(prefix, "node_modules", PlatformPackage(host), "bin", "mcp-server-alipay")
			checkLauncher(t, []string{node22, bin}, bare, func(t *testing.T, pid int) {
				exe, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
				want, err2 := os.Stat(platformBin)
				if err != nil || err2 != nil || !os.SameFile(exe, want) {
					t.Errorf("the launcher's process %d is not the binary after execve (%v %v)", pid, err, err2)
				}
			})
		})
		t.Run("no platform package", func(t *testing.T) {
			// Only the main package, as with --omit=optional: a clear error
			// on stderr, nothing on stdout, exit code 1.
			dir := t.TempDir()
			pkg := filepath.Join(dir, "node_modules", PackageName)
			if err := os.CopyFS(pkg, os.DirFS(filepath.Join(prefix, "node_modules", PackageName))); err != nil {
				t.Fatal(err)
			}
			got := runResult(t, "", localEnv(t), "node", filepath.Join(pkg, "bin", PackageName))
			if got.code != 1 || got.stdout != "" || !strings.Contains(got.stderr, PlatformPackage(host)) || !strings.Contains(got.stderr, "找不到") {
				t.Errorf("without %s: exit %d, stdout %q, stderr %q", PlatformPackage(host), got.code, got.stdout, got.stderr)
			}
		})
	})
}

// result is what one run of a command did.
type result struct {
	stdout, stderr string
	code           int
}

func runResult(t *testing.T, stdin string, env []string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", argv, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// checkLauncher runs the same command lines through the launcher (argv
// prefix launcher) and the bare binary: stdout, stderr and exit code must be
// the same bytes and number, and a SIGTERM to the launcher must end the
// server as it ends the bare binary. running checks the launcher's process
// while it serves.
func checkLauncher(t *testing.T, launcher []string, bare string, running func(t *testing.T, pid int)) {
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"version", "", []string{"--version"}},
		{"help", "", []string{"help"}},
		{"unknown command, exit 2", "", []string{"no-such-command"}},
		{"not JSON-RPC on stdin, exit 1", "hello\n", nil},
		{"bad configuration, exit 2", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := localEnv(t)
			if strings.HasPrefix(c.name, "bad configuration") {
				env = append(env, "AP_CURRENT_ENV=nowhere")
			}
			want := runResult(t, c.stdin, env, append([]string{bare}, c.args...)...)
			got := runResult(t, c.stdin, env, append(slices.Clone(launcher), c.args...)...)
			// The local Alipay's port may differ from run to run.
			if got.code != want.code || got.stdout != want.stdout || noPort(got.stderr) != noPort(want.stderr) {
				t.Errorf("through the launcher: exit %d, stdout %q, stderr %q\nbare binary: exit %d, stdout %q, stderr %q",
					got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
			}
		})
	}
	t.Run("SIGTERM", func(t *testing.T) {
		want := terminate(t, []string{bare}, nil)
		got := terminate(t, launcher, running)
		if got != want {
			t.Errorf("after SIGTERM the launcher exited with %q, the bare binary with %q", got, want)
		}
	})
}

var portRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)

func noPort(s string) string { return portRE.ReplaceAllString(s, "127.0.0.1:PORT") }

// terminate starts path as an MCP server, waits for its answer to
// initialize, sends it SIGTERM with stdin still open, and returns how it
// ended. A launcher that did not forward the signal would leave the server
// waiting on stdin and the test would time out.
func terminate(t *testing.T, argv []string, running func(t *testing.T, pid int)) string {
	t.Helper()
	path := argv[0]
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = localEnv(t)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"release-test","version":"0"}}}` + "\n"
	if _, err := io.WriteString(stdin, init); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	var resp struct {
		ID     int             `json:"id"`
		Result json.RawMessage `json:"result"`
	}
	if err != nil || json.Unmarshal(line, &resp) != nil || resp.ID != 1 || resp.Result == nil {
		t.Fatalf("no initialize result from %s: %v %q", path, err, line)
	}
	if running != nil {
		running(t, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s still running 20 s after SIGTERM", path)
	}
	return cmd.ProcessState.String()
}
