package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// One rule gives the version in every build path; see buildVersion.
func TestBuildVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "6b5e54bf896a5741c505ae7cf92a69c5cf505119"
	tests := []struct {
		name            string
		stamped, commit string
		bi              *debug.BuildInfo
		wantV, wantRev  string
	}{
		{"go run (no VCS stamp)", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel", "unknown"},
		{"go build in a clone", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129221119-6b5e54bf896a"}, Settings: vcs(rev, "false")}, "devel", rev},
		{"go build with local changes", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129221119-6b5e54bf896a+dirty"}, Settings: vcs(rev, "true")}, "devel", rev + "-dirty"},
		{"go build on a tag", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: vcs(rev, "false")}, "v1.2.3", rev},
		{"go install @v1.2.3", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3", "unknown"},
		{"go install @commit", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261129221119-6b5e54bf896a"}}, "devel", "6b5e54bf896a"},
		{"go install @commit after a tag", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.4-0.20261129221119-6b5e54bf896a"}}, "devel", "6b5e54bf896a"},
		{"release build (ldflags)", "v1.3.0", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "v1.3.0", rev},
		{"release build with commit stamp", "v1.3.0", "abc123", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v1.3.0", "abc123"},
		{"no build info", "", "", nil, "devel", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, r := buildVersion(tt.stamped, tt.commit, tt.bi)
			if v != tt.wantV || r != tt.wantRev {
				t.Errorf("buildVersion = %q, %q; want %q, %q", v, r, tt.wantV, tt.wantRev)
			}
		})
	}
}

// `version` prints the version, the commit and the Go version, the same for
// the built binary and `go run`; an ldflags stamp wins; extra arguments are
// refused as in every other command.
func TestVersionCommand(t *testing.T) {
	e := newEnv(t, nil)
	out, stderr, code := runBinary(t, e, "version")
	if code != 0 {
		t.Fatalf("version: exit %d\n%s", code, stderr)
	}
	goLine := "Go: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	for _, w := range []string{"mcp-server-alipay devel\n", "提交 / commit: ", goLine} {
		if !strings.Contains(out, w) {
			t.Errorf("version output lacks %q:\n%s", w, out)
		}
	}
	if alt, _, _ := runBinary(t, e, "--version"); alt != out {
		t.Errorf("--version %q differs from version %q", alt, out)
	}
	_, stderr, code = runBinary(t, e, "version", "extra")
	if code != 2 || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("version extra: exit %d, stderr %q", code, stderr)
	}

	// go run with the caller's environment: its HOME holds the Go build
	// and module caches.
	run := exec.Command("go", "run", ".", "version")
	var runErr strings.Builder
	run.Stderr = &runErr
	got, err := run.Output()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, runErr.String())
	}
	if first(string(got)) != first(out) {
		t.Errorf("go run says %q, the built binary %q", first(string(got)), first(out))
	}

	stampedBin := filepath.Join(t.TempDir(), "stamped")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7 -X main.commit=feedface", "-o", stampedBin, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	got, err = exec.Command(stampedBin, "version").Output()
	if err != nil || !strings.HasPrefix(string(got), "mcp-server-alipay v9.8.7\n提交 / commit: feedface\n") {
		t.Errorf("stamped binary: %v %q", err, got)
	}
}

func first(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
