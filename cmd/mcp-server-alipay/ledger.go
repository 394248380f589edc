package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paidhook"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// openLedger opens the ledger AP_DATABASE_URL names, or the SQLite file.
// Its errors are one line naming the file or the URL (password redacted)
// and what to do.
func openLedger(ctx context.Context, cfg *config.Config) (*ledger.Ledger, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return ledger.Open(ctx, ledgerOptions(cfg))
}

// ledgerOptions names the ledger AP_DATABASE_URL chooses: a PostgreSQL URL,
// or a SQLite file ("" is the default file).
func ledgerOptions(cfg *config.Config) ledger.Options {
	if ledger.IsPostgres(cfg.DatabaseURL) {
		return ledger.Options{DatabaseURL: cfg.DatabaseURL}
	}
	return ledger.Options{Path: cfg.DatabaseURL}
}

// recordWatches records every status the watcher sees in the ledger, which
// queues the paid event (once, whichever source saw it first).
func recordWatches(w *paywatch.Watcher, acct *ledger.Account, logger *slog.Logger) {
	w.OnChange(func(ctx context.Context, c paywatch.Change) {
		// A change without the trade came from the ledger itself
		// (FollowLedger: a notification, another replica): it is recorded
		// already, and must not be written again as the watch's.
		if c.Status == paywatch.NotOpened || c.Trade == nil {
			return
		}
		s := ledger.StatusSeen{OutTradeNo: c.OutTradeNo, Status: c.Status, Source: ledger.SourceWatch, Who: "watch"}
		if c.Trade != nil {
			s.TradeNo = c.Trade.TradeNo
			if a, err := alipay.ParseAmount(c.Trade.TotalAmount); err == nil {
				s.Amount = a
			}
			if t, err := alipay.ParseTimestamp(c.Trade.SendPayDate); err == nil {
				s.PaidAt = t
			}
		}
		if _, err := acct.RecordStatus(ctx, s); err != nil {
			logger.Error("账本: 状态未记录 / ledger: status not recorded", "outTradeNo", c.OutTradeNo, "status", c.Status, "err", err.Error())
		}
	})
}

// resumeWatches watches again, after a restart, the orders that are neither
// paid nor closed and still inside their watch window, and the orders the
// merchant closed unopened until their links expire.
func resumeWatches(ctx context.Context, w *paywatch.Watcher, acct *ledger.Account, window time.Duration, logger *slog.Logger) int {
	orders, err := acct.Unfinished(ctx, time.Now().Add(-window))
	if err != nil {
		logger.Error("账本: 未恢复等待 / ledger: watches not resumed", "err", err.Error())
		return 0
	}
	for _, o := range orders {
		w.WatchUntil(o.OutTradeNo, o.CreatedAt.Add(window))
	}
	// Orders the merchant closed before the buyer opened their links: the
	// watch closes the trade as soon as a buyer opens one, and reports a
	// payment that gets through, until the links expire.
	closed, err := acct.ClosedUnopened(ctx, time.Now())
	if err != nil {
		logger.Error("账本: 未能恢复对已关闭订单的关注 / ledger: watches of closed orders not resumed", "err", err.Error())
		return len(orders)
	}
	for _, o := range closed {
		w.MarkClosed(o.OutTradeNo, o.ClosedAt, o.PayableUntil.Add(time.Minute))
	}
	return len(orders) + len(closed)
}

// reportUnsettled says on stderr which refunds were sent and never heard
// back from (the server died mid-refund): their outcome is unknown until the
// next refund call or query-alipay-refund under that outRequestNo.
func reportUnsettled(ctx context.Context, acct *ledger.Account, stderr io.Writer) {
	refunds, err := acct.Unsettled(ctx)
	if err != nil || len(refunds) == 0 {
		return
	}
	fmt.Fprintf(stderr, "mcp-server-alipay: %d 笔退款结果未知 / %d refund(s) with an unknown outcome (sent, no answer recorded):\n", len(refunds), len(refunds))
	for _, r := range refunds {
		fmt.Fprintf(stderr, "  outTradeNo %s outRequestNo %s ¥%s, sent %s\n", r.OutTradeNo, r.OutRequestNo, r.Amount, r.SentAt.In(beijing).Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintln(stderr, "  用同一个 outRequestNo 调用 query-alipay-refund 或 refund-alipay-payment 会先查询并结清 (不会重复退款)。"+
		"Calling query-alipay-refund or refund-alipay-payment with the same outRequestNo settles it with a refund query first (it never refunds twice).")
}

var beijing = time.FixedZone("CST", 8*3600)

// Pruning of the ledger: expired leases and outbox events delivered more
// than deliveredKeep ago go, a bounded batch every pruneEvery (and at
// start), so neither table grows without end.
const (
	pruneEvery    = time.Hour
	deliveredKeep = 30 * 24 * time.Hour
)

// pruneLedger prunes the ledger at start and every pruneEvery until ctx ends.
func pruneLedger(ctx context.Context, led *ledger.Ledger, logger *slog.Logger) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if n, err := led.Prune(ctx, deliveredKeep); err != nil && ctx.Err() == nil {
			logger.Warn("账本清理失败 / ledger: pruning failed", "error", err)
		} else if n > 0 {
			logger.Info("账本已清理 / ledger pruned", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startPaidHook starts the sender of paid events to AP_PAID_WEBHOOK over
// the ledger's outbox. It wakes on the ledger's paid events (every
// process's, on PostgreSQL) and polls for the rest. The returned function
// stops it and waits.
func startPaidHook(ctx context.Context, cfg *config.Config, led *ledger.Ledger, logger *slog.Logger, count func(outcome string)) (func(), error) {
	if cfg.PaidWebhook.IsZero() {
		return func() {}, nil
	}
	s, err := paidhook.NewSender(paidhook.FromLedger(led), paidhook.Options{Target: cfg.PaidWebhook, Logger: logger, Count: count})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := paidhook.WakeOnPaid(ctx, led, s); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	return func() { cancel(); <-done }, nil
}

// ledgerTrades answers the trade number the ledger stored for an order, so
// that an answer naming another trade number is refused after a restart
// and on every replica, not only by the process that first saw it. A
// ledger that cannot answer knows none (the in-memory book still holds).
func ledgerTrades(a *ledger.Account) func(ctx context.Context, outTradeNo string) string {
	return func(ctx context.Context, outTradeNo string) string {
		o, err := a.Order(ctx, outTradeNo)
		if err != nil {
			return ""
		}
		return o.TradeNo
	}
}
