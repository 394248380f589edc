// Package metricstest checks metrics text with Prometheus's own tools in
// tests.
package metricstest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Promtool checks text with Prometheus's own parser and linter
// (`promtool check metrics`, from Debian's prometheus package; scripts/test.sh
// installs it). Without it the test skips, or fails under CI=true.
func Promtool(t testing.TB, text []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found under CI (scripts/test.sh installs it)")
		}
		t.Skip("promtool not found: run scripts/test.sh to install it")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics: %v\n%s\ninput:\n%s", err, out, text)
	}
}
