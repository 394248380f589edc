package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// TestServiceFollowsLedger: the service both transports build (stdio and
// http) follows the ledger: a payment recorded there by someone else (the
// notification receiver, another process on the same ledger) reaches a
// waiting subscriber. Nobody watches or polls the order (it was never
// made here, and Subscribe starts no watch), so only the ledger's event can
// deliver it.
func TestServiceFollowsLedger(t *testing.T) {
	vars := map[string]string{"AP_CURRENT_ENV": "local", "AP_LOCAL_DATA_DIR": t.TempDir(),
		"AP_DATABASE_URL": filepath.Join(t.TempDir(), "ledger.db")}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := newService(ctx, cfg, slog.New(slog.DiscardHandler), tools.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if svc.watcher == nil {
		t.Fatal("no watcher")
	}
	feed := svc.watcher.Subscribe("FL-1")
	defer feed.Close()
	if _, err := svc.account.RecordStatus(ctx, ledger.StatusSeen{OutTradeNo: "FL-1", Status: "TRADE_SUCCESS",
		TradeNo: "2026112922001400000000000001", Amount: 100, Source: ledger.SourceNotification, Who: "alipay"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-feed.Ready():
		c, ok := feed.Next()
		if !ok || c.OutTradeNo != "FL-1" || c.Status != "TRADE_SUCCESS" {
			t.Fatalf("feed gave %+v, %t", c, ok)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a payment recorded in the ledger did not reach the service's subscriber")
	}
	if svc.watcher.Watching("FL-1") {
		t.Error("the order is being polled; the test would not prove the ledger event")
	}
}
