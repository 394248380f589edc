package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PackageName is the npm package users run with `npx -y`. The unscoped
// mcp-server-alipay is held by the maintainer of @alipay/mcp-server-alipay;
// this one is free. Each platform's binary is in PackageName-<os>-<cpu>.
const PackageName = "mcp-server-alipay-go"

// Repository is where the packages and the bundle say they come from.
const Repository = "https://github.com/mcp-server-alipay/mcp-server-alipay"

//go:embed assets/launcher.js
var launcherJS string

//go:embed assets/install.js
var installJS string

// PlatformPackage is the npm name of t's binary package.
func PlatformPackage(t Target) string { return PackageName + "-" + t.NodeOS() + "-" + t.NodeCPU() }

type npmPackage struct {
	Name                 string            `json:"name"`
	Version              string            `json:"version"`
	Description          string            `json:"description"`
	Keywords             []string          `json:"keywords,omitempty"`
	Homepage             string            `json:"homepage"`
	Repository           npmRepository     `json:"repository"`
	Bin                  map[string]string `json:"bin,omitempty"`
	OS                   []string          `json:"os,omitempty"`
	CPU                  []string          `json:"cpu,omitempty"`
	Files                []string          `json:"files"`
	Engines              map[string]string `json:"engines,omitempty"`
	Scripts              map[string]string `json:"scripts,omitempty"`
	PreferUnplugged      bool              `json:"preferUnplugged,omitempty"`
	OptionalDependencies map[string]string `json:"optionalDependencies,omitempty"`
}

type npmRepository struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

const npmDescription = "支付宝 MCP Server (Go 实现), 可直接替换 @alipay/mcp-server-alipay / " +
	"Alipay MCP server in Go, a drop-in replacement for @alipay/mcp-server-alipay"

// StageNpm writes the main package and one package per target under dir,
// each in a directory named after the package, and returns those
// directories, main package first. bins maps each target to its binary.
func StageNpm(dir, version string, targets []Target, bins map[Target]string) ([]string, error) {
	repo := npmRepository{Type: "git", URL: "git+" + Repository + ".git"}
	main := npmPackage{
		Name:        PackageName,
		Version:     version,
		Description: npmDescription,
		Keywords:    []string{"mcp", "mcp-server", "alipay", "支付宝", "payment"},
		Homepage:    Repository,
		Repository:  repo,
		Bin:         map[string]string{PackageName: "bin/" + PackageName},
		Files:       []string{"bin/", "install.js"},
		Engines:     map[string]string{"node": ">=18"},
		Scripts:     map[string]string{"postinstall": "node install.js"},

		OptionalDependencies: map[string]string{},
	}
	for _, t := range targets {
		main.OptionalDependencies[PlatformPackage(t)] = version
	}
	mainDir := filepath.Join(dir, PackageName)
	launcher := strings.ReplaceAll(launcherJS, "{{NAME}}", PackageName)
	if err := writePackage(mainDir, main, npmReadme); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(mainDir, "bin", PackageName), []byte(launcher), 0o755); err != nil {
		return nil, err
	}
	install := strings.ReplaceAll(installJS, "{{NAME}}", PackageName)
	if err := writeFile(filepath.Join(mainDir, "install.js"), []byte(install), 0o644); err != nil {
		return nil, err
	}
	dirs := []string{mainDir}
	for _, t := range targets {
		p := npmPackage{
			Name:            PlatformPackage(t),
			Version:         version,
			Description:     fmt.Sprintf("%s 的 %s 二进制 / the %s binary of %s", PackageName, t, t, PackageName),
			Homepage:        Repository,
			Repository:      repo,
			OS:              []string{t.NodeOS()},
			CPU:             []string{t.NodeCPU()},
			Files:           []string{"bin/"},
			PreferUnplugged: true,
		}
		pdir := filepath.Join(dir, p.Name)
		readme := fmt.Sprintf("# %s\n\n%s 在 %s 上的二进制, 由 `%s` 自动选用; 请安装 `%s`。\nThe %s binary of `%s`, picked by it automatically; install `%s` instead.\n",
			p.Name, PackageName, t, PackageName, PackageName, t, PackageName, PackageName)
		if err := writePackage(pdir, p, readme); err != nil {
			return nil, err
		}
		exe := "mcp-server-alipay"
		if t.GOOS == "windows" {
			exe += ".exe"
		}
		if err := copyFile(bins[t], filepath.Join(pdir, "bin", exe), 0o755); err != nil {
			return nil, err
		}
		dirs = append(dirs, pdir)
	}
	return dirs, nil
}

const npmReadme = `# ` + PackageName + `

支付宝 MCP Server 的 Go 实现: 与 ` + "`@alipay/mcp-server-alipay`" + ` 的工具、参数和环境变量相同, 把命令中的包名换成 ` + "`" + PackageName + "`" + ` 即可。
The Go implementation of the Alipay MCP server: same tools, arguments and variables as ` + "`@alipay/mcp-server-alipay`" + `;
swap the package name in the command for ` + "`" + PackageName + "`" + `.

` + "```sh\nAP_CURRENT_ENV=local npx -y " + PackageName + "   # 本地支付宝试用 / try it against a local Alipay\n```" + `

See ` + Repository + ` for the configuration of Cursor, Cline and Claude Desktop.
`

func writePackage(dir string, p npmPackage, readme string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "package.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "README.md"), []byte(readme), 0o644)
}

// NpmPack runs `npm pack` in pkgDir, writing the tarball into dest, and
// returns the tarball's path.
func NpmPack(ctx context.Context, pkgDir, dest string, log io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, "npm", "pack", "--json", "--pack-destination", dest)
	cmd.Dir = pkgDir
	cmd.Stderr = log
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack %s: %w", filepath.Base(pkgDir), err)
	}
	var res []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		return "", fmt.Errorf("npm pack %s: unexpected output %q", filepath.Base(pkgDir), out)
	}
	return filepath.Join(dest, res[0].Filename), nil
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, b, mode)
}
