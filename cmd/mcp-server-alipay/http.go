package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/heapfloor"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/httpserve"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/notify"
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
	// Each call leaves a few hundred KiB of garbage (mostly the MCP SDK's
	// 32 KiB JSON read buffers) on a live heap of a few MiB: under load Go's
	// default pacing would collect dozens of times a second.
	defer heapfloor.Start(gcMaxFloor, gcEvery, getenv).Stop()

	// Listen first: in local mode the receiver's address (this listener)
	// is the notify_url the local Alipay posts to.
	ln, err := net.Listen("tcp", ho.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay http: 监听 %s 失败 / cannot listen on %s: %v\n", ho.Listen, ho.Listen, err)
		return 1
	}
	defer ln.Close()
	if cfg.Env == config.Local && cfg.NotifyURL == "" {
		cfg.NotifyURL = localNotifyURL(ln.Addr(), ho.TLSCert != "")
	}

	// The backend outlives the signal: calls in flight during the graceful
	// shutdown still reach Alipay. It is closed after the server stops.
	bctx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	m := httpserve.NewMetrics()
	svc, err := newService(bctx, cfg, logger, tools.Options{OnCall: m.ObserveCall, PerCaller: true, GetSessionID: httpserve.SessionIDs(ho.Replica)},
		func(outcome string) { m.Webhooks.Inc(outcome) })
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay: %v\n", err)
		return 1
	}
	defer svc.Close()
	ho.Server, ho.Metrics, ho.Logger = svc.server, m, logger
	if err := trustOwnCertificate(svc, ho); err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay http: 未启动 / not started: %v\n", err)
		return 2
	}
	if err := mountReceiver(&ho, svc, cfg, m, logger); err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay http: 未启动 / not started: %v\n", err)
		return 2
	}
	ho.Ready = []httpserve.Check{
		{Name: "config", Check: configCheck(svc.backend.appKey, svc.backend.signType, svc.backend.alipayKey, cfg.NotifyURL, ho.Routes)},
		{Name: "ledger", Check: svc.ledger.Ready},
	}
	// newService follows the ledger: a payment recorded anywhere (this
	// receiver, another replica's, a watch) reaches this process's
	// subscribers and waiting calls.
	hs, err := httpserve.New(ho)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay http: 未启动 / not started: %v\n", err)
		return 2
	}
	svc.announceLocal(stderr)
	reportUnsettled(ctx, svc.account, stderr)
	svc.logStart(logger, "http", "listen", ln.Addr().String(), "auth", hs.AuthEnabled(), "notify_url", cfg.NotifyURL)
	err = hs.ServeListener(ctx, ln, func(addr net.Addr) {
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

// Under load the HTTP server collects garbage about every gcEvery, with at
// most gcMaxFloor bytes of garbage between collections (internal/heapfloor).
// Most of a collection's work is scanning the stacks of every session's
// goroutines, whatever the garbage: at the HTTP benchmark's full load,
// every 200 ms the collector takes 1.6% of the server's CPU and every
// 100 ms 3.0%, for a resident size of 117 MiB instead of 86. GOMEMLIMIT
// bounds it; an explicit GOGC turns the pacing off.
const (
	gcEvery    = 200 * time.Millisecond
	gcMaxFloor = 64 << 20
)

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

// localNotifyURL is this listener's receiver as the local Alipay reaches
// it: at the address the server listens on (127.0.0.1 for every address).
func localNotifyURL(addr net.Addr, tls bool) string {
	host, port, _ := net.SplitHostPort(addr.String())
	// The listener's own address, so that --listen [::1]:port gets an
	// address that connects; a listener on every address (0.0.0.0, ::)
	// is reached on 127.0.0.1.
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + notifyPath
}

// trustOwnCertificate lets the in-process local Alipay post notifications
// to this server's HTTPS listener: the notify_url is https://<listen address>:port,
// which the certificate of --tls-cert (self-signed, or a platform's for its
// own domain) does not vouch for. Only that exact certificate is added.
func trustOwnCertificate(svc *service, ho httpserve.Options) error {
	if svc.backend.local == nil || ho.TLSCert == "" {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(ho.TLSCert, ho.TLSKey)
	if err != nil {
		return fmt.Errorf("TLS 证书或私钥无法读取 (--tls-cert, --tls-key) / cannot load the TLS certificate and key (--tls-cert, --tls-key): %w", err)
	}
	svc.backend.local.TrustNotifyCertificate(pair.Certificate[0])
	return nil
}

// notifyPath is where the receiver listens when AP_NOTIFY_URL does not say
// (local mode).
const notifyPath = "/alipay/notify"

// mountReceiver serves Alipay's payment notifications at the path of
// AP_NOTIFY_URL, without bearer auth (Alipay signs them), and lets its host
// through the Host check. Without AP_NOTIFY_URL there is nothing to mount.
func mountReceiver(ho *httpserve.Options, svc *service, cfg *config.Config, m *httpserve.Metrics, logger *slog.Logger) error {
	if cfg.NotifyURL == "" {
		return nil
	}
	u, err := url.Parse(cfg.NotifyURL)
	if err != nil {
		return fmt.Errorf("AP_NOTIFY_URL: %w", err)
	}
	path := u.Path
	switch path {
	case "", "/", "/mcp", "/healthz", "/readyz", "/metrics":
		return fmt.Errorf("AP_NOTIFY_URL 的路径 %q 与本服务的其他路径冲突, 请用例如 /alipay/notify / the path %q of AP_NOTIFY_URL collides with the server's own paths; use e.g. /alipay/notify", path, path)
	}
	rc, err := notify.New(notify.Options{
		Store:     svc.account,
		AppID:     svc.backend.client.AppID(),
		AlipayKey: svc.backend.alipayKey,
		SellerID:  svc.backend.sellerID,
		// With AP_INVOKE_AUTH_TOKEN the app acts for a merchant, whose
		// notifications name the merchant's app as auth_app_id.
		ServiceProvider: cfg.AppAuthToken != "",
		Logger:          logger,
		Count:           func(result string) { m.Notifications.Inc(result) },
	})
	if err != nil {
		return err
	}
	ho.Routes = map[string]http.Handler{"POST " + path: rc}
	if len(ho.AllowedHosts) > 0 || ho.PublicURL != "" {
		// A Host allow-list is in force: let Alipay's posts through.
		ho.AllowedHosts = append(ho.AllowedHosts, u.Hostname())
	}
	return nil
}
