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

// sandboxCommands are the control subcommands: argument, then what they do
// in Chinese and English.
var sandboxCommands = []struct{ name, arg, zh, en string }{
	{"env", "", "正在运行的本地支付宝的 AP_* 设置", "AP_* settings of a running sandbox"},
	{"trades", "", "列出交易 (最新的在前)", "list trades, newest first"},
	{"trade", "OUT_TRADE_NO", "一笔交易及其退款和通知", "one trade, its refunds and notifications"},
	{"pay", "OUT_TRADE_NO", "不用浏览器支付一笔已打开的交易", "pay an opened trade without a browser"},
	{"close", "OUT_TRADE_NO", "关闭一笔未支付的交易", "close an unpaid trade"},
	{"expire", "OUT_TRADE_NO", "让一笔未支付的交易立即超时", "let an unpaid trade time out now"},
	{"resend", "NOTIFY_ID", "重新发送一条通知", "send a notification again"},
	{"pay-link", "LINK", "打开支付链接并支付", "open a payment link and pay it"},
}

const sandboxURLFlag = `  --url     运行中的本地支付宝的地址 (默认 http://` + localalipay.DefaultAddr + `; pay-link 默认用链接自己的地址)
            base URL of a running sandbox (default http://` + localalipay.DefaultAddr + `; pay-link: the link's own address)
`

const sandboxFooter = `
这不是真实的支付宝, 不会产生真实扣款 / This is NOT the real Alipay: no money moves.
详见 / see docs/local-alipay.md
`

// sandboxUsage is the help of `sandbox`, in Chinese and English.
func sandboxUsage() string {
	var b strings.Builder
	b.WriteString(`用法 / usage:
  mcp-server-alipay sandbox [--listen ADDR] [--data-dir DIR]
        运行本地模拟支付宝 (LOCAL Alipay) 直到 Ctrl+C, 并打印客户端需要的 AP_* 设置
        run the LOCAL Alipay until interrupted and print the AP_* settings a client needs
`)
	for _, c := range sandboxCommands {
		fmt.Fprintf(&b, "  mcp-server-alipay sandbox %-22s [--url URL]\n        %s / %s\n", c.name+" "+c.arg, c.zh, c.en)
	}
	b.WriteString(`
  --listen  监听地址 (默认 ` + localalipay.DefaultAddr + `; 被占用时用随机端口)
            address to listen on (default ` + localalipay.DefaultAddr + `; a random port if that is taken)
  --data-dir DIR  密钥和数据库所在目录 (默认 AP_LOCAL_DATA_DIR, 否则 $XDG_DATA_HOME/mcp-server-alipay/local
            或 ~/.local/share/mcp-server-alipay/local); 旧写法 --data 仍可用
            data directory for keys and the database (default AP_LOCAL_DATA_DIR, otherwise as above);
            the old spelling --data still works
` + sandboxURLFlag + sandboxFooter)
	return b.String()
}

// sandboxCommandUsage is the help of one control subcommand.
func sandboxCommandUsage(name string) string {
	for _, c := range sandboxCommands {
		if c.name == name {
			return fmt.Sprintf("用法 / usage:\n  mcp-server-alipay sandbox %s [--url URL]\n        %s / %s\n\n%s%s",
				strings.TrimSpace(c.name+" "+c.arg), c.zh, c.en, sandboxURLFlag, sandboxFooter)
		}
	}
	return sandboxUsage()
}

// runSandbox implements `mcp-server-alipay sandbox …`.
func runSandbox(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return runSandboxControl(ctx, args[0], args[1:], stdout, stderr)
	}
	fs := newFlagSet("sandbox")
	listen := fs.String("listen", "", "监听地址 / address to listen on")
	data := fs.String("data-dir", "", "数据目录 / data directory")
	fs.StringVar(data, "data", "", "旧写法 / old spelling of --data-dir")
	if code, done := parseArgs(fs, sandboxUsage(), args, stdout, stderr); done {
		return code
	}
	dir, note, err := demoDataDir(*data, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox: 找不到数据目录, 请用 --data-dir DIR 指定 / no data directory; give --data-dir DIR: %v\n", err)
		return 1
	}
	fmt.Fprint(stderr, note)
	addr, explicit := *listen, *listen != ""
	if !explicit {
		addr = localalipay.DefaultAddr
	}
	warning, err := listenWarning(addr)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox: %v\n", err)
		return 2
	}
	fmt.Fprint(stderr, warning)
	opts := localalipay.Options{DataDir: dir, Addr: addr}
	srv, err := localalipay.Start(ctx, opts)
	if err != nil && !explicit && errors.Is(err, syscall.EADDRINUSE) {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox: %s 已被占用 (也许是另一个 sandbox 或本地模式的 MCP 服务器), 改用随机端口 / "+
			"%s is in use, maybe by another sandbox or an MCP server in local mode; using a random port\n", addr, addr)
		opts.Addr = "127.0.0.1:0"
		srv, err = localalipay.Start(ctx, opts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox: %v\n", err)
		return 1
	}
	defer srv.Close()
	printSandboxBanner(stdout, srv)
	if ifAddrs, err := net.InterfaceAddrs(); err == nil {
		fmt.Fprint(stdout, lanGatewayLines(lanGatewayURLs(opts.Addr, srv.URL(), ifAddrs)))
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "mcp-server-alipay sandbox: 正在停止; 未送达的通知会在下次启动时继续发送 / stopping; undelivered notifications stay queued for the next start")
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox: 关闭失败 / close failed: %v\n", err)
		return 1
	}
	return 0
}

func printSandboxBanner(w io.Writer, srv *localalipay.Server) {
	c := srv.Credentials()
	fmt.Fprintf(w, `本地模拟支付宝 / LOCAL Alipay — 不是真实的支付宝, 不会产生真实扣款 / not the real Alipay; no real money
监听 / listening on %s; 数据目录 / data: %s

# 把这些设置交给客户端 / settings for a client (AP_CURRENT_ENV=sandbox or prod, with AP_GATEWAY_URL):
# AP_APP_KEY 是本地测试应用的私钥, 不是真实凭据, 有意打印出来
# / AP_APP_KEY is the private key of a LOCAL test app, not a real credential; printing it is intended
AP_APP_ID=%s
AP_APP_KEY=%s
AP_PUB_KEY=%s
AP_GATEWAY_URL=%s
AP_SELLER_ID=%s

控制 API / control API: %s/_local/trades   (docs/local-alipay.md)
按 Ctrl+C 停止 / Ctrl+C to stop.
`, srv.URL(), srv.DataDir(), c.AppID, c.AppPrivateKey, c.AlipayPublicKey, c.GatewayURL, c.SellerID, srv.URL())
}

// lanGatewayURLs are the gateway URLs other devices on the network can use
// when the sandbox listens on an unspecified address (0.0.0.0, ::) or a
// non-loopback one: the local Alipay's qr_code and links use the host the
// gateway was called with, so an MCP server that calls the gateway at one
// of these gives QR codes a phone can open. listen is the --listen
// address, local the server's own (loopback) URL, for its port.
func lanGatewayURLs(listen, local string, ifAddrs []net.Addr) []string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || isLoopback(host) {
		return nil
	}
	u, err := url.Parse(local)
	if err != nil || u.Port() == "" {
		return nil
	}
	gateway := func(ip net.IP) string {
		return "http://" + net.JoinHostPort(ip.String(), u.Port()) + "/gateway.do"
	}
	ip := net.ParseIP(host)
	if ip != nil && !ip.IsUnspecified() {
		return []string{gateway(ip)}
	}
	v4only := ip != nil && ip.To4() != nil // 0.0.0.0 listens on IPv4 only
	var v4, v6 []string
	for _, a := range ifAddrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() || n.IP.IsUnspecified() {
			continue
		}
		if n.IP.To4() != nil {
			v4 = append(v4, gateway(n.IP))
		} else if !v4only {
			v6 = append(v6, gateway(n.IP))
		}
	}
	return append(v4, v6...)
}

// lanGatewayLines tell how to make QR codes a phone on the network can scan.
func lanGatewayLines(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n# 用手机扫码付款: 让 MCP 服务器用下面一个地址调用网关 (它的二维码和链接会指向这个地址) /\n" +
		"# to pay by scanning with a phone on this network, give the MCP server one of these (its QR codes and links then point there):\n")
	for _, u := range urls {
		fmt.Fprintf(&b, "AP_GATEWAY_URL=%s\n", u)
	}
	return b.String()
}

// listenWarning checks a --listen address and returns the warning to print
// when it is not loopback ("" when it is).
func listenWarning(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--listen %q: 监听地址格式应为 主机:端口, 如 %s / want HOST:PORT, e.g. %s", addr, localalipay.DefaultAddr, localalipay.DefaultAddr)
	}
	if isLoopback(host) {
		return "", nil
	}
	return fmt.Sprintf("警告 / WARNING: 本地支付宝监听在非本机地址 %s, 局域网内的设备可以访问网关和收银台; /_local/ 控制 API 仍只回答本机 / "+
		"listening on %s, not loopback: other machines can reach the gateway and the cashier pages; the /_local/ control API still answers this machine only\n", addr, addr), nil
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
	n := -1
	for _, c := range sandboxCommands {
		if c.name == cmd {
			n = min(len(c.arg), 1)
		}
	}
	if n < 0 {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox: 未知的子命令 %q / unknown subcommand %q\n\n%s", cmd, cmd, sandboxUsage())
		return 2
	}
	usage := sandboxCommandUsage(cmd)
	fs := newFlagSet("sandbox " + cmd)
	base := fs.String("url", "http://"+localalipay.DefaultAddr, "运行中的本地支付宝的地址 / base URL of a running sandbox")
	// Accept the flag before or after the argument.
	var pos []string
	for len(args) > 0 {
		if code, ok := parseSandboxFlags(fs, "sandbox "+cmd, args, stdout, stderr, usage); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) > n {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox %s: 不接受参数 %q / unexpected argument %q\n\n%s", cmd, pos[n], pos[n], usage)
		return 2
	}
	if len(pos) != n {
		plural := "s"
		if n == 1 {
			plural = ""
		}
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox %s: 需要 %d 个参数, 实际 %d 个 / wants %d argument%s, got %d\n\n%s", cmd, n, len(pos), n, plural, len(pos), usage)
		return 2
	}
	if cmd == "pay-link" && !flagSet(fs, "url") {
		// A link names the local Alipay that made it; any process on its
		// data directory serves that address while one runs.
		if lu, err := url.Parse(pos[0]); err == nil && lu.Scheme == "http" && lu.Host != "" {
			*base = "http://" + lu.Host
		}
	}
	if u, err := url.Parse(*base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox %s: --url %q 无效, 应如 http://%s / --url must be a base URL like http://%s\n", cmd, *base, localalipay.DefaultAddr, localalipay.DefaultAddr)
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
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox %s: 连接失败, %s 上没有运行中的本地模拟支付宝? 启动: mcp-server-alipay sandbox --data-dir DIR / "+
			"request failed; is no LOCAL Alipay running at %s? Start one with: mcp-server-alipay sandbox --data-dir DIR\n%v\n", cmd, *base, *base, err)
		return 1
	}
	if status != http.StatusOK {
		fmt.Fprintf(stderr, "mcp-server-alipay sandbox %s: HTTP %d\n%s", cmd, status, out)
		return 1
	}
	if cmd == "env" {
		var m map[string]string
		if err := json.Unmarshal(out, &m); err != nil {
			fmt.Fprintf(stderr, "mcp-server-alipay sandbox env: 回答不是预期的 JSON / the answer is not the expected JSON: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, "# AP_APP_KEY 是本地测试应用的私钥, 有意打印出来 / AP_APP_KEY is the private key of a LOCAL test app, printed on purpose")
		for _, k := range []string{"AP_APP_ID", "AP_APP_KEY", "AP_PUB_KEY", "AP_GATEWAY_URL", "AP_SELLER_ID"} {
			fmt.Fprintf(stdout, "%s=%s\n", k, m[k])
		}
		return 0
	}
	stdout.Write(out)
	return 0
}

// parseSandboxFlags parses args; when it fails it has printed the help
// (asked for, so to stdout) or the error (to stderr, with the help) and ok
// is false, with the exit code.
func parseSandboxFlags(fs *flag.FlagSet, name string, args []string, stdout, stderr io.Writer, usage string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0, false
	}
	fmt.Fprintf(stderr, "mcp-server-alipay %s: 无效的参数 / invalid flag: %v\n\n%s", name, err, usage)
	return 2, false
}

// flagSet says whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
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
