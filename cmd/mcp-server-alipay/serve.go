package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/rpcid"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// serve runs the MCP server on stdin/stdout until the client disconnects.
// stdout carries only JSON-RPC; everything for humans goes to stderr.
func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	logger, closeLog := openLog(cfg, stderr)
	defer closeLog()

	svc, err := newService(ctx, cfg, logger, tools.Options{}, nil)
	if err != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay: %v\n", err)
		return 1
	}
	defer svc.Close()
	svc.announceLocal(stderr)
	reportUnsettled(ctx, svc.account, stderr)
	if cfg.ReadOnly {
		fmt.Fprintf(stderr, "mcp-server-alipay: 只读模式 / read-only mode (AP_READ_ONLY=true): 只提供 / serving only %s\n", strings.Join(svc.served, ", "))
	}
	if stdinIsTerminal() {
		fmt.Fprintf(stderr, "mcp-server-alipay %s: 正在等待 MCP 客户端通过 stdio 连接 (由 Cursor、Cline、Claude Desktop 等启动)。\n"+
			"Waiting for an MCP client on stdin/stdout; this command is meant to be started by Cursor, Cline, Claude Desktop or another MCP client.\n"+
			"想先看看效果? 运行 / To see it work, run:  mcp-server-alipay demo\n"+
			"按 Ctrl+C 退出 / Press Ctrl+C to quit.\n", versionString())
	}
	svc.logStart(logger, "stdio")
	// rpcid keeps request ids exact: the SDK reads numeric ids through
	// float64 (see internal/rpcid).
	if err := svc.server.Run(ctx, rpcid.Transport(rpcid.NewMapper(), os.Stdin, os.Stdout)); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		explainRunError(stderr, err)
		return 1
	}
	return 0
}

// service is what both transports serve: the MCP server with the selected
// tools, and the Alipay and payment watch behind it.
type service struct {
	cfg     *config.Config
	backend *backend
	served  []string          // the tools served (AP_SELECT_TOOLS less writes under AP_READ_ONLY)
	watcher *paywatch.Watcher // nil when orders are not watched
	server  *mcp.Server
	ledger  *ledger.Ledger
	account *ledger.Account // this app's records in this environment
	stop    func()          // stops the paid webhook sender
}

// newService builds the MCP server from cfg. o carries what the transport
// adds (a call hook, per-caller results), and webhookCount, when not nil,
// counts the paid webhook's delivery attempts; o's Deps, Tools, Logger and
// Version are filled in here.
func newService(ctx context.Context, cfg *config.Config, logger *slog.Logger, o tools.Options, webhookCount func(outcome string)) (*service, error) {
	b, err := newBackend(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	svc := &service{cfg: cfg, backend: b, served: tools.Served(cfg.Tools, cfg.ReadOnly), stop: func() {}}
	// The ledger comes first: nothing is served unrecorded.
	if svc.ledger, err = openLedger(ctx, cfg); err != nil {
		svc.Close()
		return nil, err
	}
	svc.account = svc.ledger.Account(b.client.AppID(), string(cfg.Env))
	b.trades.SetFallback(ledgerTrades(svc.account))
	if svc.stop, err = startPaidHook(ctx, cfg, svc.ledger, logger, webhookCount); err != nil {
		svc.stop = func() {}
		svc.Close()
		return nil, err
	}
	pctx, cancelPrune := context.WithCancel(ctx)
	go pruneLedger(pctx, svc.ledger, logger)
	stopHook := svc.stop
	svc.stop = func() { cancelPrune(); stopHook() }
	deps := tools.Deps{Client: b.client, Local: b.local != nil, RefundMax: cfg.RefundMax, Confirm: confirmMode(cfg.RefundConfirm),
		PayTimeout: cfg.PayTimeout, Ledger: svc.account, RefundDailyLimit: cfg.RefundDailyLimit,
		StateKey: cfg.StateKey, Answers: svc.account}
	// Watching follows the order status resource, which needs queryPay.
	if cfg.WatchPayments && tools.ResourceSelected(svc.served) {
		wo := watchOptions(b.local != nil, logger)
		if ledger.IsPostgres(cfg.DatabaseURL) {
			// Processes sharing the ledger: one of them polls each order.
			wo.Leases = svc.account
		}
		svc.watcher = paywatch.New(ctx, b.watchClient, wo)
		deps.Watcher = svc.watcher
		recordWatches(svc.watcher, svc.account, logger)
		// A payment or close recorded anywhere (a notification, a watch,
		// another process on the same PostgreSQL ledger) reaches this
		// process's subscribers and waiting calls, over stdio as over
		// HTTP, without waiting for the next poll.
		events, err := svc.ledger.Subscribe(ctx)
		if err != nil {
			svc.Close()
			return nil, err
		}
		go svc.watcher.FollowLedger(ctx, events, b.client.AppID(), string(cfg.Env))
		window := wo.Deadline
		if window <= 0 {
			window = paywatch.DefaultDeadline
		}
		if n := resumeWatches(ctx, svc.watcher, svc.account, window, logger); n > 0 {
			logger.Info("已恢复等待 / watches resumed", "orders", n)
		}
	}
	o.Deps, o.Tools, o.ReadOnly, o.Logger, o.Version = deps, cfg.Tools, cfg.ReadOnly, logger, versionString()
	if svc.server, err = tools.NewServer(o); err != nil {
		svc.Close()
		return nil, err
	}
	return svc, nil
}

// Close stops the paid webhook sender and the watch, then the ledger and
// the backend (the watches query one and record in the other).
func (s *service) Close() {
	if s.stop != nil {
		s.stop()
	}
	if s.watcher != nil {
		s.watcher.Close()
	}
	if s.ledger != nil {
		s.ledger.Close()
	}
	s.backend.Close()
}

// announceLocal tells the human on stderr where the local Alipay runs.
func (s *service) announceLocal(stderr io.Writer) {
	if b := s.backend; b.local != nil {
		fmt.Fprintf(stderr, "mcp-server-alipay: 本地支付宝 / local Alipay at %s; 数据 / data: %s; 不涉及真实资金 / no real money\n", b.local.URL(), b.dataDir)
	}
}

// logStart writes the start line of the call log.
func (s *service) logStart(logger *slog.Logger, transport string, attrs ...any) {
	cfg := s.cfg
	logger.Info("服务器启动 / server start", append([]any{"version", versionString(), "transport", transport, "env", string(cfg.Env), "gateway", s.backend.client.GatewayURL(),
		"tools", s.served, "ledger", s.ledger.Where(), "read_only", cfg.ReadOnly, "pay_timeout", cfg.PayTimeout.String(), "watch_payments", s.watcher != nil, "refund_confirm", string(cfg.RefundConfirm)}, attrs...)...)
}

// confirmMode maps AP_REFUND_CONFIRM to the refund tool's mode.
func confirmMode(c config.RefundConfirm) tools.ConfirmMode {
	switch c {
	case config.ConfirmAlways:
		return tools.ConfirmAlways
	case config.ConfirmNever:
		return tools.ConfirmNever
	}
	return tools.ConfirmAuto
}

// explainRunError says on stderr, in both languages, why serving stopped.
//
// Input that is not a JSON-RPC message (not JSON, not version 2.0, junk
// after a message, an unterminated value) ends the session: that is the Go
// MCP SDK's behaviour, and we keep it. The SDK reads stdin as one JSON
// stream, which cannot be re-framed reliably after a bad value, and the MCP
// stdio transport requires every line to be one JSON-RPC message, so a
// client that breaks this is broken; answering -32700 and reading on would
// mean writing to stdout around the SDK. stdout stays JSON-RPC only.
func explainRunError(stderr io.Writer, err error) {
	fmt.Fprintf(stderr, "mcp-server-alipay: MCP 连接中断, 服务已退出 / the MCP connection ended and the server stopped: %v\n", err)
	if !badInput(err) {
		return
	}
	fmt.Fprint(stderr, "  原因 / Why: stdin 上收到的不是有效的 JSON-RPC 消息。stdio 传输要求每行恰好一条 JSON-RPC 2.0 消息 (UTF-8 JSON, 行内不含换行); "+
		"出现无法解析的输入时会话结束, 因为之后的数据已无法可靠地分帧。\n"+
		"  stdin carried something that is not a valid JSON-RPC message. The stdio transport needs exactly one JSON-RPC 2.0 message "+
		"per line (UTF-8 JSON, no embedded newlines); unparseable input ends the session, because the rest of the stream can no longer be framed reliably.\n"+
		"  怎么办 / What to do: 本程序应由 MCP 客户端 (Cursor、Cline、Claude Desktop 等) 启动, 请检查客户端配置; 手动试用请运行 `mcp-server-alipay demo`。\n"+
		"  This program is meant to be started by an MCP client (Cursor, Cline, Claude Desktop…): check the client's configuration; "+
		"to try it by hand, run `mcp-server-alipay demo`.\n")
}

// badInput reports whether a Run error came from unreadable input. The SDK
// does not export these errors, so its messages are matched too.
func badInput(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"invalid character", "trailing data", "version tag", "batch", "JSON-RPC", "maximum line length", "invalid ID"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// watchOptions: the local Alipay answers at once and nobody pays for its
// queries, so local mode polls faster than the defaults (2s … 30s).
func watchOptions(local bool, logger *slog.Logger) paywatch.Options {
	o := paywatch.Options{Logger: logger}
	if local {
		o.Intervals = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	}
	return o
}

// loadConfig reads the AP_* variables and explains every problem on stderr.
func loadConfig(getenv func(string) string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "mcp-server-alipay: 配置无效, 未启动 / invalid configuration, not started:")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  ✗ %s\n", line)
		}
		fmt.Fprintln(stderr, "运行 `mcp-server-alipay help` 查看所有变量; 没有支付宝账号时可设 AP_CURRENT_ENV=local 试用。")
		fmt.Fprintln(stderr, "Run `mcp-server-alipay help` for every variable; without an Alipay account, set AP_CURRENT_ENV=local to try it.")
		return nil, false
	}
	if err := tools.CheckServed(tools.Served(cfg.Tools, cfg.ReadOnly), cfg.ReadOnly); err != nil {
		fmt.Fprintln(stderr, "mcp-server-alipay: 配置无效, 未启动 / invalid configuration, not started:")
		fmt.Fprintf(stderr, "  ✗ %v\n", err)
		return nil, false
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "mcp-server-alipay: 注意 / note: %s\n", w)
	}
	return cfg, true
}

// openLog opens $HOME/mcp-server-alipay.log (0600, append) when
// AP_LOG_ENABLED; a log that cannot be opened is a warning, not a failure.
func openLog(cfg *config.Config, stderr io.Writer) (*slog.Logger, func()) {
	discard := slog.New(slog.DiscardHandler) // disabled: no record is even built
	if !cfg.LogEnabled {
		return discard, func() {}
	}
	path, err := logFilePath()
	if err == nil {
		var f *os.File
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err == nil {
			// OpenFile's mode applies only to a new file: a log left by an
			// older version or another tool keeps its mode (often 0644).
			if cerr := f.Chmod(0o600); cerr != nil {
				fmt.Fprintf(stderr, "mcp-server-alipay: 警告 / warning: 无法把日志文件设为仅本人可读写 (0600), 其他用户可能读到订单号 / "+
					"cannot make the log file private (0600); other users may be able to read order numbers: %v\n", cerr)
			}
			return slog.New(slog.NewJSONHandler(f, nil)), func() { f.Close() }
		}
	}
	fmt.Fprintf(stderr, "mcp-server-alipay: 警告 / warning: 无法打开日志文件, 继续运行但不记录日志 / cannot open the log file, continuing without it: %v\n", err)
	return discard, func() {}
}
