package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docBinary is where docs/deploy.md installs the binary.
const docBinary = "/usr/local/bin/mcp-server-alipay"

// systemdUnit is the systemd unit docs/deploy.md shows, as the doc has it:
// its one ini block.
func systemdUnit(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(doc), "\n```ini\n")
	if len(parts) != 2 {
		t.Fatalf("docs/deploy.md has %d ini blocks, want the one systemd unit", len(parts)-1)
	}
	unit, _, ok := strings.Cut(parts[1], "\n```\n")
	if !ok {
		t.Fatal("docs/deploy.md: the ini block does not end")
	}
	return unit + "\n"
}

// The systemd unit of docs/deploy.md passes `systemd-analyze verify`, taken
// from the doc itself so that the two cannot drift, as the instance the doc
// starts (mcp-server-alipay@a). Unknown keys and bad values are only
// warnings to systemd-analyze (exit 0), so any line it prints about the
// unit fails the test too.
func TestDeploySystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze not found (Debian package systemd; scripts/test.sh installs it)")
		}
		t.Skip("systemd-analyze not found; install Debian's systemd package")
	}
	unit := systemdUnit(t)
	for _, want := range []string{"ExecStart=" + docBinary + " http ", "KillSignal=SIGTERM", "TimeoutStopSec="} {
		if !strings.Contains(unit, want) {
			t.Fatalf("the unit in docs/deploy.md lacks %q:\n%s", want, unit)
		}
	}
	// verify checks that ExecStart's program exists and is executable.
	// The only change to the doc's text: the installed path becomes the
	// binary this test run built.
	unit = strings.ReplaceAll(unit, docBinary, binary)
	path := filepath.Join(t.TempDir(), "mcp-server-alipay@a.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var about []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "mcp-server-alipay@") {
			about = append(about, line)
		}
	}
	if err != nil || len(about) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out.String())
	} else if out.Len() > 0 {
		t.Logf("systemd-analyze verify, about other units:\n%s", out.String())
	}
}
