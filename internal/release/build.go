package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Target is one GOOS/GOARCH pair we ship.
type Target struct{ GOOS, GOARCH string }

// Targets are the six platforms of a release.
var Targets = []Target{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

func (t Target) String() string { return t.GOOS + "/" + t.GOARCH }

// BinaryName is the file name of t's binary in the release directory.
func (t Target) BinaryName() string {
	n := "mcp-server-alipay-" + t.GOOS + "-" + t.GOARCH
	if t.GOOS == "windows" {
		n += ".exe"
	}
	return n
}

// NodeOS and NodeCPU are t in Node's words (process.platform, process.arch),
// which npm's "os" and "cpu" fields use.
func (t Target) NodeOS() string {
	if t.GOOS == "windows" {
		return "win32"
	}
	return t.GOOS
}

func (t Target) NodeCPU() string {
	if t.GOARCH == "amd64" {
		return "x64"
	}
	return t.GOARCH
}

// ParseTargets reads a comma list of GOOS/GOARCH; "all" is every target.
func ParseTargets(s string) ([]Target, error) {
	if s == "" || s == "all" {
		return Targets, nil
	}
	var ts []Target
	for _, f := range strings.Split(s, ",") {
		goos, goarch, _ := strings.Cut(strings.TrimSpace(f), "/")
		t := Target{goos, goarch}
		if !slices.Contains(Targets, t) {
			return nil, fmt.Errorf("-targets: 不支持的目标 / unsupported target %q; use all or a comma list of %v", f, Targets)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// BuildOptions say how to build binaries.
type BuildOptions struct {
	Root    string // the module root
	Version string // stamped into main.version
	Commit  string // stamped into main.commit; empty = none
	// GOCACHE overrides the build cache; empty keeps the user's.
	GOCACHE string
	Log     io.Writer // the go command's output; nil = discard
}

// ldflags strips the symbol table and DWARF (smaller downloads; stack traces
// keep their file:line), empties the build id, and stamps the version and
// commit that --version prints.
func ldflags(version, commit string) string {
	f := "-s -w -buildid= -X main.version=" + version
	if commit != "" {
		f += " -X main.commit=" + commit
	}
	return f
}

// Build compiles the server for t into dst.
func Build(ctx context.Context, o BuildOptions, t Target, dst string) error {
	// The commit is stamped, so the build info needs no VCS fields: with
	// -buildvcs=false the bytes do not depend on whether this go command
	// can read the checkout's git (it cannot in a git worktree, say).
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", ldflags(o.Version, o.Commit), "-o", dst, "./cmd/mcp-server-alipay")
	cmd.Dir = o.Root
	cmd.Env = buildEnv(o, t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if o.Log != nil {
		o.Log.Write(out.Bytes())
	}
	if err != nil {
		return fmt.Errorf("go build %s: %w\n%s", t, err, out.String())
	}
	return nil
}

// buildEnv is the environment minus what would change the bytes from one
// machine to the next: cgo, GOFLAGS and the per-architecture levels.
func buildEnv(o BuildOptions, t Target) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOFLAGS", "GOAMD64", "GOARM64", "GOEXPERIMENT", "GOCACHE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "CGO_ENABLED=0", "GOOS="+t.GOOS, "GOARCH="+t.GOARCH)
	if o.GOCACHE != "" {
		env = append(env, "GOCACHE="+o.GOCACHE)
	} else if c := os.Getenv("GOCACHE"); c != "" {
		env = append(env, "GOCACHE="+c)
	}
	return env
}

// GitCommit is the checkout's commit, with "-dirty" when tracked files
// have changed, or "" outside a git checkout.
func GitCommit(ctx context.Context, root string) string {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	rev, err := git("rev-parse", "HEAD")
	if err != nil || rev == "" {
		return ""
	}
	if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		rev += "-dirty"
	}
	return rev
}

// GitVersion describes the checkout in root: the nearest tag, commits since
// and the commit (`git describe --tags --always --dirty`), or "dev" outside
// a git checkout.
func GitVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "dev"
}

var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$`)

// NpmVersion turns a git version into a semver version that npm and MCPB
// accept: v1.2.3 → 1.2.3; v1.2.3-4-gabcdef → 1.2.3-4-gabcdef (a
// prerelease, as npm wants for an untagged build); a bare commit abcdef →
// 0.0.0-gabcdef.
func NpmVersion(v string) string {
	s := strings.TrimPrefix(v, "v")
	if s == "dev" || s == "" {
		return "0.0.0-dev"
	}
	if semver.MatchString(s) && !strings.Contains(s, "..") {
		return s
	}
	clean := regexp.MustCompile(`[^0-9A-Za-z-]+`).ReplaceAllString(s, "-")
	return "0.0.0-g" + strings.Trim(clean, "-")
}

// WriteSums writes dir/SHA256SUMS over every regular file in dir except
// itself, in `sha256sum -c` format, sorted by name.
func WriteSums(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "SHA256SUMS" {
			continue
		}
		sum, err := fileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, e.Name())
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
