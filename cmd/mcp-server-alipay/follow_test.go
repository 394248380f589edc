package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
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

// TestStdioWakesOnLedgerEvent: the stdio binary on a PostgreSQL ledger
// hears a payment that another process records there (as the notification
// receiver of an http replica does): its subscriber is told at once. The
// local Alipay has no trade for the order, so after the first poll's
// NOT_OPENED no poll reports a change: only the ledger's event
// (LISTEN/NOTIFY, then FollowLedger) can.
func TestStdioWakesOnLedgerEvent(t *testing.T) {
	u := pgtest.Database(t)
	e := newEnv(t, map[string]string{"AP_DATABASE_URL": u, "AP_STATE_KEY": strings.Repeat("k", 32)})
	s, updated := e.connectWatching(t, "2025-11-25")
	no := orderNo("FOLLOW")
	uri := "alipay://trade/" + no
	s.subscribe(t, uri)

	// Another process: this test, on the same ledger, for the app the
	// binary's local Alipay gave it.
	l, err := ledger.Open(context.Background(), ledger.Options{DatabaseURL: u})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The watch's first poll reports NOT_OPENED once; polls report
	// changes only, and Alipay's answer will not change.
	select {
	case <-updated:
	case <-time.After(bound):
		t.Fatal("the subscription's first update (NOT_OPENED) never came")
	}
	appID, err := localalipay.AppID(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Account(appID, "local").RecordStatus(context.Background(), ledger.StatusSeen{OutTradeNo: no, Status: "TRADE_SUCCESS",
		TradeNo: "2026112922001400000000000002", Amount: 100, Source: ledger.SourceNotification, Who: "alipay"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-updated:
		if got != uri {
			t.Fatalf("updated %s, want %s", got, uri)
		}
		if n := strings.Count(s.wire.String(), `"method":"notifications/resources/updated"`); n != 2 {
			t.Errorf("%d updates, want 2: the first poll's and the ledger's", n)
		}
	case <-time.After(bound):
		t.Fatalf("a payment recorded by another process never reached the stdio server's subscriber\nstderr:\n%s", s.stderr.String())
	}
}
