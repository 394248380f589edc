package main

import (
	"context"
	"debug/pe"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
)

// hostConfig is what interop/mcpb-host.mjs prints: the manifest, and the
// command the host would run, resolved by @anthropic-ai/mcpb's code.
type hostConfig struct {
	Manifest Manifest `json:"manifest"`
	Config   struct {
		Command string            `json:"command"`
		Args    []string          `json:"args"`
		Env     map[string]string `json:"env"`
	} `json:"config"`
}

func mcpbHost(t *testing.T, bundle, userConfig, platform string) (hostConfig, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	args := []string{bundle, dir, userConfig}
	if platform != "" {
		args = append(args, platform)
	}
	var hc hostConfig
	out := nodeinterop.Run(t, "mcpb-host.mjs", nil, args...)
	if err := json.Unmarshal(out, &hc); err != nil {
		t.Fatalf("mcpb-host output: %v\n%s", err, out)
	}
	return hc, dir
}

// checkBundle validates the packed bundle with the mcpb CLI, unpacks it and
// resolves its command as Claude Desktop would (with @anthropic-ai/mcpb's
// code), runs that command with only the manifest's defaults, and checks
// that the manifest's tools are the ones the running server lists.
func checkBundle(ctx context.Context, t *testing.T, interop, bundle string) {
	cli := filepath.Join(interop, "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js")
	if b, err := exec.CommandContext(ctx, "node", cli, "info", bundle).CombinedOutput(); err != nil {
		t.Fatalf("mcpb info: %v\n%s", err, b)
	}
	home := t.TempDir()
	// The user fills in nothing but where local mode keeps its data.
	user := `{"AP_LOCAL_DATA_DIR":` + jsonString(filepath.Join(home, "local")) + `}`
	hc, dir := mcpbHost(t, bundle, user, "")
	if b, err := exec.CommandContext(ctx, "node", cli, "validate", filepath.Join(dir, "manifest.json")).CombinedOutput(); err != nil {
		t.Fatalf("mcpb validate: %v\n%s", err, b)
	}
	for k, v := range hc.Config.Env {
		if strings.Contains(v, "${") {
			t.Errorf("%s=%q: a placeholder the host left in place", k, v)
		}
	}
	cmd := exec.CommandContext(ctx, hc.Config.Command, hc.Config.Args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home}
	for k, v := range hc.Config.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	listed := serveCheck(t, cmd)
	var served, declared []ManifestTool
	for _, tl := range listed {
		served = append(served, ManifestTool{Name: tl.Name, Description: tl.Description})
	}
	declared = slices.Clone(hc.Manifest.Tools)
	// tools/list is sorted by name; the manifest keeps the reference's order.
	byName := func(a, b ManifestTool) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(served, byName)
	slices.SortFunc(declared, byName)
	if !slices.Equal(served, declared) {
		t.Errorf("the manifest declares tools %v, the server lists %v", names(declared), names(served))
	}

	// On Windows the host runs the amd64 binary itself, without arguments.
	win, wdir := mcpbHost(t, bundle, "{}", "win32")
	if len(win.Config.Args) != 0 || win.Config.Command != filepath.Join(wdir, "server", "win32-x64", "mcp-server-alipay.exe") {
		t.Errorf("win32 command %q %q", win.Config.Command, win.Config.Args)
	}
	f, err := pe.Open(win.Config.Command)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		t.Errorf("win32 binary machine %#x", f.Machine)
	}
}

func names(ts []ManifestTool) []string {
	var n []string
	for _, t := range ts {
		n = append(n, t.Name)
	}
	return n
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
