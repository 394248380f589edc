package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// Options say what one release run builds.
type Options struct {
	Root    string // module root
	Out     string // release directory
	Version string // git version; empty = GitVersion
	Targets []Target
	Npm     bool
	MCPB    bool
	MCPBCLI string    // @anthropic-ai/mcpb's dist/cli/cli.js
	GOCACHE string    // empty = the user's build cache
	Log     io.Writer // progress and tool output
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", filepath.Join(root, "dist"), "发布目录 / release directory")
	version := fs.String("version", "", "版本, 默认 git describe --tags --always --dirty / version; default: git describe --tags --always --dirty")
	targets := fs.String("targets", "all", "all, 或逗号分隔的 GOOS/GOARCH / or a comma list of GOOS/GOARCH")
	npm := fs.Bool("npm", true, "打 npm 包 (需要 npm) / build the npm packages (needs npm)")
	mcpb := fs.Bool("mcpb", true, "打 Claude Desktop 包 (需要 npm ci --prefix interop) / build the Claude Desktop bundle (needs npm ci --prefix interop)")
	cli := fs.String("mcpb-cli", filepath.Join(root, "interop", "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js"), "@anthropic-ai/mcpb CLI")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ts, err := ParseTargets(*targets)
	if err != nil {
		return err
	}
	return Release(ctx, Options{Root: root, Out: *out, Version: *version, Targets: ts, Npm: *npm, MCPB: *mcpb, MCPBCLI: *cli, Log: stderr})
}

// Release builds the binaries of o.Targets into o.Out, then the npm
// packages and the bundle when asked, then SHA256SUMS over all of them.
func Release(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Version == "" {
		o.Version = GitVersion(ctx, o.Root)
	}
	if err := cleanOut(o.Out); err != nil {
		return err
	}
	semver := NpmVersion(o.Version)
	fmt.Fprintf(o.Log, "release %s (npm %s) → %s\n", o.Version, semver, o.Out)
	commit := GitCommit(ctx, o.Root)
	bins := map[Target]string{}
	for _, t := range o.Targets {
		fmt.Fprintf(o.Log, "build %s\n", t)
		dst := filepath.Join(o.Out, t.BinaryName())
		if err := Build(ctx, BuildOptions{Root: o.Root, Version: o.Version, Commit: commit, GOCACHE: o.GOCACHE, Log: o.Log}, t, dst); err != nil {
			return err
		}
		bins[t] = dst
	}
	stage, err := os.MkdirTemp("", "release-stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if o.Npm {
		dirs, err := StageNpm(filepath.Join(stage, "npm"), semver, o.Targets, bins)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			tgz, err := NpmPack(ctx, d, o.Out, o.Log)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Log, "npm %s\n", filepath.Base(tgz))
		}
	}
	if o.MCPB {
		if _, err := os.Stat(o.MCPBCLI); err != nil {
			return fmt.Errorf("找不到 mcpb 命令行 / no mcpb CLI at %s (run: npm ci --prefix interop, or pass -mcpb=false): %w", o.MCPBCLI, err)
		}
		dir := filepath.Join(stage, "mcpb")
		if err := StageBundle(dir, semver, bins); err != nil {
			return err
		}
		bundle := filepath.Join(o.Out, BundleName(semver))
		if err := MCPB(ctx, o.MCPBCLI, o.Log, "pack", dir, bundle); err != nil {
			return err
		}
		if err := NormalizeZip(bundle, SourceTime(ctx, o.Root)); err != nil {
			return fmt.Errorf("mcpb %s: %w", filepath.Base(bundle), err)
		}
		fmt.Fprintf(o.Log, "mcpb %s\n", filepath.Base(bundle))
	}
	return WriteSums(o.Out)
}

// BundleName is the bundle's file name for a semver version.
func BundleName(semver string) string { return PackageName + "-" + semver + ".mcpb" }

// cleanOut empties out when it is a previous release directory (it has a
// SHA256SUMS) and creates it; any other non-empty directory is refused.
func cleanOut(out string) error {
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(out, "SHA256SUMS")); err != nil {
			return fmt.Errorf("%s 不是空目录, 也不是以前的发布目录 / is neither empty nor an earlier release directory (no SHA256SUMS); choose another -o", out)
		}
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	return os.MkdirAll(out, 0o755)
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/mcp-server-alipay/mcp-server-alipay\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("请在本仓库内运行 / run this inside the mcp-server-alipay repository")
		}
		dir = parent
	}
}
