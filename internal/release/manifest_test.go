package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// TestUserConfigCoversVariables keeps the bundle's user_config in step with
// the variables the server reads: a new variable needs a field (and a
// default) in userOptions, or a reason in notInBundle.
func TestUserConfigCoversVariables(t *testing.T) {
	for _, v := range config.Variables {
		_, in := userOptions[v]
		_, out := notInBundle[v]
		if in == out {
			t.Errorf("%s: in user_config %v, left out %v; want exactly one", v, in, out)
		}
	}
	m := NewManifest("1.2.3")
	for k, o := range m.UserConfig {
		if m.Server.MCPConfig.Env[k] != "${user_config."+k+"}" {
			t.Errorf("%s is not passed to the server: env has %q", k, m.Server.MCPConfig.Env[k])
		}
		if o.Default == nil {
			t.Errorf("%s has no default: Claude Desktop would pass the placeholder itself when left blank", k)
		}
		if o.Required {
			t.Errorf("%s is required, but local mode needs nothing", k)
		}
	}
	for _, k := range []string{"AP_APP_KEY", "AP_INVOKE_AUTH_TOKEN"} {
		if !m.UserConfig[k].Sensitive {
			t.Errorf("%s is a secret and must be sensitive", k)
		}
	}
	if m.UserConfig["AP_CURRENT_ENV"].Default != "local" {
		t.Errorf("AP_CURRENT_ENV defaults to %v, want local so that the bundle works at once", m.UserConfig["AP_CURRENT_ENV"].Default)
	}
}

// TestManifestTools: the manifest lists the tools AP_SELECT_TOOLS=all
// selects, in tools.All's order; TestReleaseArtifacts checks the same
// against the running server.
func TestManifestTools(t *testing.T) {
	selected, err := config.ParseSelectTools("all")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, tl := range tools.All(tools.Deps{}) {
		if slices.Contains(selected, tl.Tool.Name) {
			want = append(want, tl.Tool.Name)
		}
	}
	if len(want) < 5 {
		t.Fatalf("only %v selected by all", want)
	}
	if got := names(NewManifest("1.2.3").Tools); !slices.Equal(got, want) {
		t.Errorf("manifest tools %v, want %v", got, want)
	}
}

// TestManifestValidates runs `mcpb validate` (the @anthropic-ai/mcpb CLI)
// on the manifest as StageBundle writes it.
func TestManifestValidates(t *testing.T) {
	dir := nodeinterop.Dir(t)
	b, err := json.MarshalIndent(NewManifest(NpmVersion("v1.2.3-4-gabcdef0-dirty")), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(dir, "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js")
	if out, err := exec.Command("node", cli, "validate", path).CombinedOutput(); err != nil {
		t.Fatalf("mcpb validate: %v\n%s", err, out)
	}
}

func TestNpmVersion(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-4-gabcdef0", "1.2.3-4-gabcdef0"},
		{"v1.2.3-4-gabcdef0-dirty", "1.2.3-4-gabcdef0-dirty"},
		{"29cb26b", "0.0.0-g29cb26b"},
		{"0123abc-dirty", "0.0.0-g0123abc-dirty"},
		{"dev", "0.0.0-dev"},
		{"v1.2", "0.0.0-g1-2"},
	} {
		if got := NpmVersion(c.in); got != c.want {
			t.Errorf("NpmVersion(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseTargets(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Target
		ok   bool
	}{
		{"all", Targets, true},
		{"", Targets, true},
		{"linux/amd64", []Target{{"linux", "amd64"}}, true},
		{"darwin/arm64, windows/amd64", []Target{{"darwin", "arm64"}, {"windows", "amd64"}}, true},
		{"plan9/386", nil, false},
		{"linux", nil, false},
	} {
		got, err := ParseTargets(c.in)
		if (err == nil) != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("ParseTargets(%q) = %v, %v", c.in, got, err)
		}
	}
}
