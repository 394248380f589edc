package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

const sandboxUsage = `用法 / usage:
  mcp-server-alipay sandbox [--listen ADDR] [--data DIR]
        运行本地模拟支付宝直到 Ctrl+C, 并打印客户端需要的 AP_* 设置
        run the LOCAL Alipay until interrupted and print the AP_* settings a client needs
  mcp-server-alipay sandbox env                  [--url URL]   AP_* settings of a running sandbox
  mcp-server-alipay sandbox trades               [--url URL]   list trades
  mcp-server-alipay sandbox trade  OUT_TRADE_NO  [--url URL]   one trade, its refunds and notifications
  mcp-server-alipay sandbox pay    OUT_TRADE_NO  [--url URL]   pay an opened trade without a browser
  mcp-server-alipay sandbox close  OUT_TRADE_NO  [--url URL]   close an unpaid trade
  mcp-server-alipay sandbox expire OUT_TRADE_NO  [--url URL]   let an unpaid trade time out now
  mcp-server-alipay sandbox resend NOTIFY_ID     [--url URL]   send a notification again
  mcp-server-alipay sandbox pay-link LINK        [--url URL]   open a payment link and pay it

  --listen  address to listen on (default ` + localalipay.DefaultAddr + `; a random port if that is taken)
  --data    data directory for keys and the database (default $XDG_DATA_HOME/mcp-server-alipay/local
            or ~/.local/share/mcp-server-alipay/local)
  --url     base URL of a running sandbox (default http://` + localalipay.DefaultAddr + `)

This is NOT the real Alipay: no money moves (这不是真实的支付宝, 不会产生真实扣款).
See docs/local-alipay.md.
`

// runSandbox implements `mcp-server-alipay sandbox …`.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return runSandboxControl(ctx, args[0], args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sandboxUsage) }
	listen := fs.String("listen", "", "address to listen on")
	data := fs.String("data", "", "data directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sandbox: unexpected argument %q\n\n%s", fs.Arg(0), sandboxUsage)
		return 2
	}
	dir := *data
	if dir == "" {
		d, err := localalipay.DefaultDataDir()
		if err != nil {
			fmt.Fprintf(stderr, "sandbox: %v; give --data DIR\n", err)
			return 1
		}
		dir = d
	}
	addr, explicit := *listen, *listen != ""
	if !explicit {
		addr = localalipay.DefaultAddr
	}
	warning, err := listenWarning(addr)
	if err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 2
	}
	fmt.Fprint(stderr, warning)
	opts := localalipay.Options{DataDir: dir, Addr: addr}
	srv, err := localalipay.Start(ctx, opts)
	if err != nil && !explicit && errors.Is(err, syscall.EADDRINUSE) {
		fmt.Fprintf(stderr, "sandbox: %s is in use (maybe another sandbox or an MCP server in local mode); using a random port\n", addr)
		opts.Addr = "127.0.0.1:0"
		srv, err = localalipay.Start(ctx, opts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sandbox: %v\n", err)
		return 1
	}
	defer srv.Close()
	printSandboxBanner(stdout, srv)
	<-ctx.Done()
	fmt.Fprintln(stderr, "sandbox: stopping; undelivered notifications stay queued for the next start (未送达的通知会在下次启动时继续发送)")
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "sandbox: close: %v\n", err)
		return 1
	}
	return 0
}

func printSandboxBanner(w io.Writer, srv *localalipay.Server) {
	c := srv.Credentials()
	fmt.Fprintf(w, `本地模拟支付宝 LOCAL Alipay — 不是真实的支付宝, 不会产生真实扣款 (not the real Alipay; no real money)
listening on %s  (data: %s)

# 把这些设置交给客户端 / settings for a client (AP_CURRENT_ENV=sandbox or prod, with AP_GATEWAY_URL):
# AP_APP_KEY 是本地测试应用的私钥, 不是真实凭据, 有意打印出来
# (AP_APP_KEY is the private key of a LOCAL test app, not a real credential; printing it is intended)
AP_APP_ID=%s
AP_APP_KEY=%s
AP_PUB_KEY=%s
AP_GATEWAY_URL=%s

control API: %s/_local/trades   (docs/local-alipay.md)
Ctrl+C to stop.
`, srv.URL(), srv.DataDir(), c.AppID, c.AppPrivateKey, c.AlipayPublicKey, c.GatewayURL, srv.URL())
}

// listenWarning checks a --listen address and returns the warning to print
// when it is not loopback ("" when it is).
func listenWarning(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--listen %q: want HOST:PORT, e.g. %s (监听地址格式应为 主机:端口)", addr, localalipay.DefaultAddr)
	}
	if isLoopback(host) {
		return "", nil
	}
	return fmt.Sprintf("警告 WARNING: listening on %s, not loopback: other machines can reach the gateway and the cashier pages\n"+
		"(本地支付宝监听在非本机地址, 局域网内的设备可以访问网关和收银台; the /_local/ control API still answers this machine only)\n", addr), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// runSandboxControl talks to a running sandbox's /_local/ API.
func runSandboxControl(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sandbox "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sandboxUsage) }
	base := fs.String("url", "http://"+localalipay.DefaultAddr, "base URL of a running sandbox")
	// Accept the flag before or after the argument.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	need := map[string]int{"env": 0, "trades": 0, "trade": 1, "pay": 1, "close": 1, "expire": 1, "resend": 1, "pay-link": 1}
	n, ok := need[cmd]
	if !ok {
		fmt.Fprintf(stderr, "sandbox: unknown subcommand %q (未知的子命令)\n\n%s", cmd, sandboxUsage)
		return 2
	}
	if len(pos) != n {
		fmt.Fprintf(stderr, "sandbox %s: want %d argument(s), got %d\n\n%s", cmd, n, len(pos), sandboxUsage)
		return 2
	}
	u := strings.TrimRight(*base, "/") + "/_local"
	var method, path, body string
	switch cmd {
	case "env":
		method, path = http.MethodGet, "/credentials"
	case "trades":
		method, path = http.MethodGet, "/trades"
	case "trade":
		method, path = http.MethodGet, "/trades/"+url.PathEscape(pos[0])
	case "pay", "close", "expire":
		method, path = http.MethodPost, "/trades/"+url.PathEscape(pos[0])+"/"+cmd
	case "resend":
		method, path = http.MethodPost, "/notifications/"+url.PathEscape(pos[0])+"/resend"
	case "pay-link":
		b, _ := json.Marshal(map[string]string{"link": pos[0]})
		method, path, body = http.MethodPost, "/pay-link", string(b)
	}
	out, status, err := controlCall(ctx, method, u+path, body)
	if err != nil {
		fmt.Fprintf(stderr, "sandbox %s: %v\n(is a sandbox running at %s? start one with: mcp-server-alipay sandbox)\n", cmd, err, *base)
		return 1
	}
	if status != http.StatusOK {
		fmt.Fprintf(stderr, "sandbox %s: HTTP %d\n%s", cmd, status, out)
		return 1
	}
	if cmd == "env" {
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil {
			fmt.Fprintf(stderr, "sandbox env: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "# AP_APP_KEY is the private key of a LOCAL test app (本地测试应用私钥), printed on purpose")
		for _, k := range []string{"AP_APP_ID", "AP_APP_KEY", "AP_PUB_KEY", "AP_GATEWAY_URL"} {
			fmt.Fprintf(stdout, "%s=%s\n", k, m[k])
		}
		return 0
	}
	stdout.Write(out)
	return 0
}

func controlCall(ctx context.Context, method, u, body string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return out, resp.StatusCode, err
}
