// Command mcp-server-alipay serves the Alipay tools over MCP stdio or
// Streamable HTTP (http), and has
// subcommands to try them (demo), check a configuration (doctor) and run the
// local Alipay on its own (sandbox).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line. stdout is only written by commands that
// print for a human; serve mode leaves it to the MCP transport.
// isCommand says whether name is a subcommand.
func isCommand(name string) bool {
	switch name {
	case "serve", "stdio", "http", "sandbox", "demo", "doctor", "version":
		return true
	}
	return false
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return serve(ctx, getenv, stderr)
	}
	switch args[0] {
	case "serve", "stdio":
		if code, done := parseArgs(newFlagSet(args[0]), serveUsage, args[1:], stdout, stderr); done {
			return code
		}
		return serve(ctx, getenv, stderr)
	case "http":
		return serveHTTP(ctx, args[1:], getenv, stdout, stderr)
	case "sandbox":
		return runSandbox(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "orders":
		return runOrders(ctx, args[1:], getenv, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version", "-v":
		if code, done := parseArgs(newFlagSet("version"), versionUsage, args[1:], stdout, stderr); done {
			return code
		}
		printVersion(stdout)
		return 0
	case "help", "--help", "-help", "-h":
		rest := args[1:]
		switch {
		case len(rest) == 0:
			usage(stdout)
			return 0
		case len(rest) == 1 && rest[0] != "help" && isCommand(rest[0]):
			// help COMMAND is COMMAND --help.
			return run(ctx, []string{rest[0], "--help"}, getenv, stdout, stderr)
		}
		extra := rest[0]
		if isCommand(rest[0]) && len(rest) > 1 {
			extra = rest[1]
		}
		fmt.Fprintf(stderr, "mcp-server-alipay help: 不接受参数 %q, 可写 help 命令名 / unexpected argument %q; use help COMMAND\n\n", extra, extra)
		usage(stderr)
		return 2
	}
	fmt.Fprintf(stderr, "mcp-server-alipay: 未知命令 / unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
