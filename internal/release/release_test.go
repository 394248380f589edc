package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
)

// TestReleaseArtifacts builds a whole release once, as `go run
// ./internal/release` does, and checks it as a user would: static binaries
// for the six targets with the version stamped, SHA256SUMS, the same bytes
// from a second run and from an empty build cache, the npm packages
// installed offline and run through npx, and the Claude Desktop bundle
// validated, unpacked and run the way the host runs it. It is the one heavy
// test (minutes of compiling for six platforms); scripts/test.sh runs it in
// a step of its own.
func TestReleaseArtifacts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the release build compiles six platforms")
	}
	interop := nodeinterop.Dir(t) // Node, npm and @anthropic-ai/mcpb
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Leave a minute before go test's -timeout to report what failed.
	ctx, cancel := context.WithCancel(context.Background())
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-time.Minute))
	}
	defer cancel()
	version := GitVersion(ctx, root)
	out := filepath.Join(t.TempDir(), "dist")
	var log bytes.Buffer
	opts := Options{Root: root, Out: out, Version: version, Targets: Targets, Npm: true, MCPB: true,
		MCPBCLI: filepath.Join(interop, "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js"), Log: &log}
	if err := Release(ctx, opts); err != nil {
		t.Fatalf("release: %v\n%s", err, log.String())
	}
	semver := NpmVersion(version)

	t.Run("static binaries", func(t *testing.T) { checkBinaries(t, out, version, GitCommit(ctx, root)) })
	t.Run("SHA256SUMS", func(t *testing.T) { checkSums(t, out) })
	t.Run("reproducible", func(t *testing.T) { checkReproducible(ctx, t, opts) })
	t.Run("npm", func(t *testing.T) { checkNpm(ctx, t, out, semver) })
	t.Run("mcpb", func(t *testing.T) { checkBundle(ctx, t, interop, filepath.Join(out, BundleName(semver))) })
}

// checkBinaries opens each target's binary with the standard library's
// object file readers: the right format and architecture, nothing loaded at
// start-up but the operating system's own libraries (no ELF interpreter at
// all), and build settings that say CGO_ENABLED=0, -trimpath and our
// version.
func checkBinaries(t *testing.T, out, version, commit string) {
	for _, tg := range Targets {
		path := filepath.Join(out, tg.BinaryName())
		t.Run(tg.String(), func(t *testing.T) {
			switch tg.GOOS {
			case "linux":
				f, err := elf.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[tg.GOARCH]
				if f.Machine != want {
					t.Errorf("machine %v, want %v", f.Machine, want)
				}
				for _, p := range f.Progs {
					if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
						t.Errorf("has a %v program header: dynamically linked", p.Type)
					}
				}
				if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
					t.Errorf("needs shared libraries %v", libs)
				}
				if s := f.Section(".note.go.buildid"); s != nil && s.Size > 16 {
					t.Errorf("carries a Go build id (%d bytes of note) despite -buildid=", s.Size)
				}
			case "darwin":
				f, err := macho.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[tg.GOARCH]
				if f.Cpu != want {
					t.Errorf("cpu %v, want %v", f.Cpu, want)
				}
				// Go on macOS always calls the kernel through libSystem
				// (Apple supports no other way); with cgo off nothing else
				// beyond the system's frameworks may be loaded.
				libs, err := f.ImportedLibraries()
				if err != nil || len(libs) == 0 {
					t.Fatalf("imported libraries: %v %v", libs, err)
				}
				for _, l := range libs {
					if !strings.HasPrefix(l, "/usr/lib/") && !strings.HasPrefix(l, "/System/Library/Frameworks/") {
						t.Errorf("loads %s, not part of macOS", l)
					}
				}
			case "windows":
				f, err := pe.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[tg.GOARCH]
				if f.Machine != want {
					t.Errorf("machine %#x, want %#x", f.Machine, want)
				}
				libs, err := f.ImportedLibraries()
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range libs {
					if !strings.EqualFold(l, "kernel32.dll") {
						t.Errorf("imports %s; a Go binary without cgo imports only kernel32.dll", l)
					}
				}
			}
			bi, err := buildinfo.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": tg.GOOS, "GOARCH": tg.GOARCH} {
				if settings[k] != v {
					t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
				}
			}
			// -trimpath keeps -ldflags out of the build info, so look for
			// the stamped version in the bytes (the host binary's --version
			// below is the stronger check).
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(version)) {
				t.Errorf("the version %s is not in the binary", version)
			}
			if bytes.Contains(b, []byte(root(t))) {
				t.Errorf("the binary contains the checkout's path %s despite -trimpath", root(t))
			}
		})
	}
	// The host's binary runs and says its version, commit and Go version.
	host := hostTarget(t)
	b, err := exec.Command(filepath.Join(out, host.BinaryName()), "--version").Output()
	if err != nil || !strings.Contains(string(b), version) || !strings.Contains(string(b), commit) || !strings.Contains(string(b), runtime.Version()) {
		t.Errorf("--version: %q %v, want it to name %s, %s and %s", b, err, version, commit, runtime.Version())
	}
}

func root(t *testing.T) string {
	t.Helper()
	r, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkSums checks SHA256SUMS with coreutils' sha256sum (an implementation we
// did not write) and that it lists every artifact, and only those.
func checkSums(t *testing.T, out string) {
	cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	cmd.Dir = out
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum --check: %v\n%s", err, b)
	}
	b, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		_, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("malformed line %q", line)
		}
		listed = append(listed, name)
	}
	entries, _ := os.ReadDir(out)
	var files []string
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" {
			files = append(files, e.Name())
		}
	}
	if !slices.Equal(listed, files) {
		t.Errorf("SHA256SUMS lists %v, the directory holds %v", listed, files)
	}
	if len(files) != len(Targets)+1+len(Targets)+1 {
		t.Errorf("want 6 binaries, 7 npm tarballs and a bundle, got %v", files)
	}
}

// checkReproducible builds the release again with the same build cache, as
// a user rebuilding does, and one target again from an empty build cache,
// which compiles everything from source: each must give the same bytes.
func checkReproducible(ctx context.Context, t *testing.T, first Options) {
	second := first
	second.Out = filepath.Join(t.TempDir(), "dist")
	var log bytes.Buffer
	second.Log = &log
	if err := Release(ctx, second); err != nil {
		t.Fatalf("second release: %v\n%s", err, log.String())
	}
	entries, _ := os.ReadDir(second.Out)
	compared := 0
	for _, e := range entries {
		compared++
		sameFile(t, filepath.Join(first.Out, e.Name()), filepath.Join(second.Out, e.Name()))
	}
	if compared != 2*len(Targets)+3 {
		t.Errorf("compared %d files, want the 6 binaries, 7 npm tarballs, the bundle and SHA256SUMS", compared)
	}
	// darwin/arm64: the linker also signs it (an ad-hoc code signature),
	// one more place where bytes could differ.
	tg := Target{"darwin", "arm64"}
	fresh := filepath.Join(t.TempDir(), tg.BinaryName())
	o := BuildOptions{Root: first.Root, Version: first.Version, Commit: GitCommit(ctx, first.Root), GOCACHE: t.TempDir(), Log: &log}
	if err := Build(ctx, o, tg, fresh); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(first.Out, tg.BinaryName()), fresh)
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s differs between builds (%d and %d bytes)", filepath.Base(a), len(x), len(y))
	}
}

// offlineNpm is an npm environment that cannot reach any registry: an empty
// cache of its own and a registry address where nothing listens.
func offlineNpm(t *testing.T) []string {
	t.Helper()
	return []string{
		"npm_config_cache=" + t.TempDir(),
		"npm_config_registry=http://127.0.0.1:9/",
		"npm_config_offline=true",
		"npm_config_audit=false",
		"npm_config_fund=false",
		"npm_config_update_notifier=false",
		"npm_config_userconfig=" + filepath.Join(t.TempDir(), "npmrc"),
	}
}

func runIn(ctx context.Context, t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, b)
	}
	return b
}
