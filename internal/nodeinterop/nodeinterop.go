package nodeinterop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Dir returns the interop/ directory of the module, with its node_modules
// installed, or skips the test (fails it under CI=true) when it is not.
func Dir(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("nodeinterop: %v", err)
	}
	dir := filepath.Join(root, "interop")
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "alipay-sdk")); err != nil {
		missing = "interop/node_modules is not installed (run: npm ci --prefix interop)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("interop peer unavailable under CI: %s", missing)
		}
		t.Skipf("skipping interop test: %s", missing)
	}
	return dir
}

// Run runs `node interop/<script> args...` with stdin and returns stdout.
// The test fails with stderr when the script exits non-zero.
func Run(t testing.TB, script string, stdin []byte, args ...string) []byte {
	t.Helper()
	out, stderr, err := RunErr(t, script, stdin, args...)
	if err != nil {
		t.Fatalf("node %s: %v\nstderr:\n%s\nstdout:\n%s", script, err, stderr, out)
	}
	return out
}

// RunErr is Run without failing: it returns stdout, stderr and the exit error.
func RunErr(t testing.TB, script string, stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	dir := Dir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
