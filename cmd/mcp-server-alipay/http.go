package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/httpserve"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// serveHTTP runs the MCP server over Streamable HTTP until ctx ends (SIGTERM
// or Ctrl+C), then shuts down gracefully.
func serveHTTP(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("http")
	listen := fs.String("listen", "", "")
	tlsCert := fs.String("tls-cert", "", "")
	tlsKey := fs.String("tls-key", "", "")
	if code, done := parseArgs(fs, httpUsage(), args, stdout, stderr); done {
		return code
	}
	cfg, ok := loadConfig(getenv, stderr)
	ho, herr := httpserve.FromEnv(getenv)
	if herr != nil {
		if ok {
			fmt.Fprintln(stderr, "mcp-server-alipay: 配置无效, 未启动 / invalid configuration, not started:")
		}
		for _, line := range strings.Split(herr.Error(), "\n") {
			fmt.Fprintf(stderr, "  ✗ %s\n", line)
		}
		return 2
	}
	if !ok {
		return 2
	}
	if *listen != "" {
		ho.Listen = *listen
	}
	if *tlsCert != "" || *tlsKey != "" {
		ho.TLSCert, ho.TLSKey = *tlsCert, *tlsKey
	}
	logger, closeLog := openLog(cfg, stderr)
	defer closeLog()

	// The backend outlives the signal: calls in flight during the graceful
	// shutdown still reach Alipay. It is closed after the server stops.
	m := httpserve.NewMetrics()
	svc, err := newService(context.WithoutCancel(ctx), cfg, logger, tools.Options{OnCall: m.ObserveCall, PerCaller: true, GetSessionID: httpserve.SessionIDs(ho.Replica)})
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay: %v\n", err)
		return 1
	}
	defer svc.Close()
	ho.Server, ho.Metrics, ho.Logger = svc.server, m, logger
	ho.Ready = []httpserve.Check{{Name: "config", Check: func(context.Context) error { return nil }}}
	hs, err := httpserve.New(ho)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay http: 未启动 / not started: %v\n", err)
		return 2
	}
	svc.announceLocal(stderr)
	svc.logStart(logger, "http", "listen", ho.Listen, "auth", hs.AuthEnabled())
	err = hs.Serve(ctx, func(addr net.Addr) {
		scheme := "http"
		if ho.TLSCert != "" {
			scheme = "https"
		}
		auth := "无需令牌 (仅本机) / no token needed (loopback only)"
		if hs.AuthEnabled() {
			auth = "需要令牌 / bearer token required"
		}
		fmt.Fprintf(stderr, "mcp-server-alipay %s: MCP 服务 / serving MCP at %s://%s/mcp (%s)\n", versionString(), scheme, addr, auth)
	})
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay http: %v\n", err)
		return 1
	}
	fmt.Fprintln(stderr, "mcp-server-alipay http: 已停止 / stopped")
	return 0
}

func httpUsage() string {
	var b strings.Builder
	b.WriteString(`用法 / Usage: mcp-server-alipay http [--listen ADDR] [--tls-cert FILE --tls-key FILE]
  通过 Streamable HTTP 在 /mcp 提供与 stdio 相同的工具, 供智能体平台等远程客户端使用; 配置来自 AP_* 环境变量。
  Serves the same tools as stdio over Streamable HTTP at /mcp, for agent platforms and other remote clients;
  configured by the AP_* variables. 2026-07-28 clients are served statelessly, older ones with sessions.
  /healthz 存活 / liveness   /readyz 就绪 / readiness   /metrics Prometheus 指标 / metrics

  --listen ADDR      监听地址, 默认 AP_HTTP_LISTEN, 否则 ` + httpserve.DefaultListen + ` / listen address, default AP_HTTP_LISTEN, otherwise ` + httpserve.DefaultListen + `
                     非本机回环地址必须配置令牌或 OAuth / off loopback, tokens or OAuth are required
  --tls-cert FILE    TLS 证书 (PEM), 与 --tls-key 一起使用 / TLS certificate (PEM), with --tls-key
  --tls-key FILE     TLS 私钥 (PEM) / TLS private key (PEM)

HTTP 变量 / HTTP variables:
`)
	for _, v := range httpserve.Variables {
		fmt.Fprintf(&b, "  %-24s %s\n", v[0], v[1])
	}
	b.WriteString(`
先试试 / Try first:  AP_CURRENT_ENV=local mcp-server-alipay http
所有 AP_* 变量 / Every AP_* variable:  mcp-server-alipay help
`)
	return b.String()
}
