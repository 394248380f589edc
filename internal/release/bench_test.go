package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkLauncherColdStart measures what the npm package adds to a cold
// start (process start → initialize → tools/list → close): "bare" runs the
// binary; "launcher" runs node_modules/.bin/<name> of a package layout as
// npm installs it with --ignore-scripts, under the system's node (the JS
// launcher starts the platform package's binary as a child; no execve
// before Node 22.15); "launcher-node22" runs the same launcher under
// interop's Node 22, which hands the process over with execve; "installed"
// runs it after the postinstall
// (install.js) has put the binary in the launcher's place, as a default
// npm install or npx does. The differences to "bare" are the costs.
// Besides the wall time per cold start it reports cpu-ms/op, the CPU time
// of the started process and the children it waited for.
//
//	go test -run '^$' -bench LauncherColdStart -benchtime 20x -count 3 ./internal/release/
func BenchmarkLauncherColdStart(b *testing.B) {
	host := hostTarget(b)
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is not on PATH")
	}
	root, err := moduleRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bare := filepath.Join(dir, host.BinaryName())
	ctx := context.Background()
	if err := Build(ctx, BuildOptions{Root: root, Version: "bench"}, host, bare); err != nil {
		b.Fatal(err)
	}
	launcher := npmLayout(b, filepath.Join(dir, "plain"), host, bare, false)
	installed := npmLayout(b, filepath.Join(dir, "installed"), host, bare, true)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "AP_CURRENT_ENV=local",
		"AP_LOCAL_DATA_DIR=" + filepath.Join(dir, "local"), "AP_LOG_ENABLED=false"}
	runs := []struct {
		name string
		argv []string
	}{{"bare", []string{bare}}, {"launcher", []string{launcher}}, {"installed", []string{installed}}}
	if node22 := filepath.Join(root, "interop", "node_modules", ".bin", "node"); fileExists(node22) {
		runs = append(runs, struct {
			name string
			argv []string
		}{"launcher-node22", []string{node22, launcher}})
	}
	for _, c := range runs {
		b.Run(c.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				cpu += coldStart(b, c.argv, env)
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// coldStart runs one cold start and returns the CPU time (user and system)
// the started process and the children it waited for used: a figure that
// holds up better than the wall time on a loaded machine.
func coldStart(b *testing.B, argv []string, env []string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		b.Fatal(err)
	}
	if err := cs.Close(); err != nil {
		b.Fatal(err)
	}
	if cmd.ProcessState == nil {
		b.Fatal("the server process was not waited for")
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// npmLayout lays out what npm install makes under dir: both packages side by
// side in node_modules and .bin/<name> a symlink to the main package's bin;
// postinstall runs install.js as npm would. It returns the .bin path.
func npmLayout(b *testing.B, dir string, host Target, binary string, postinstall bool) string {
	nm := filepath.Join(dir, "node_modules")
	if _, err := StageNpm(nm, "0.0.0-bench", []Target{host}, map[Target]string{host: binary}); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(nm, ".bin", PackageName)
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", PackageName, "bin", PackageName), bin); err != nil {
		b.Fatal(err)
	}
	if postinstall {
		cmd := exec.Command("node", "install.js")
		cmd.Dir = filepath.Join(nm, PackageName)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("install.js: %v\n%s", err, out)
		}
		if head, _ := os.ReadFile(bin); len(head) < 4 || string(head[1:4]) != "ELF" {
			b.Fatal("install.js did not put the binary in place")
		}
	}
	return bin
}
