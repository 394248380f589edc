package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The README's install command works in a clone and gives a static binary,
// as the README says.
func TestReadmeInstallStatic(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// -trimpath as the release builds use it (internal/release), so this
	// build shares their compiled packages in the build cache.
	const install = "CGO_ENABLED=0 go install -trimpath ./cmd/mcp-server-alipay"
	for _, w := range []string{install, "CGO_ENABLED=0 go build -trimpath -o mcp-server-alipay ./cmd/mcp-server-alipay", "Not published yet", "@latest"} {
		if !strings.Contains(string(readme), w) {
			t.Errorf("README lacks %q", w)
		}
	}
	if runtime.GOOS != "linux" {
		t.Skip("the static check reads ELF")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "install", "-trimpath", "./cmd/mcp-server-alipay")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", install, err, out)
	}
	path := filepath.Join(bin, "mcp-server-alipay")
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the installed binary is dynamically linked (%v)", p.Type)
		}
	}
	if out, err := exec.Command(path, "version").Output(); err != nil || !strings.HasPrefix(string(out), "mcp-server-alipay devel\n") {
		t.Errorf("installed binary: version %q, %v", out, err)
	}
}
