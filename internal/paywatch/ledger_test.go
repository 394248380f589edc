package paywatch_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// A payment recorded in the ledger (as the notification receiver records
// one) reaches the watcher's feed; other accounts' events and refunds do not.
func TestFollowLedger(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := ledger.Open(ctx, ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	events, err := l.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := paywatch.New(ctx, nil, paywatch.Options{})
	t.Cleanup(w.Close)
	done := make(chan struct{})
	go func() { defer close(done); w.FollowLedger(ctx, events, "app-1", "local") }()

	mine, other := w.Subscribe("FL-1"), w.Subscribe("FL-2")
	defer mine.Close()
	defer other.Close()
	if _, err := l.Account("app-2", "local").RecordStatus(ctx, ledger.StatusSeen{OutTradeNo: "FL-2", Status: paywatch.TradeSuccess,
		TradeNo: "2026112922001400000000000002", Amount: 100, Source: ledger.SourceNotification}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Account("app-1", "local").RecordStatus(ctx, ledger.StatusSeen{OutTradeNo: "FL-1", Status: paywatch.TradeSuccess,
		TradeNo: "2026112922001400000000000001", Amount: 100, Source: ledger.SourceNotification}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, mine)
	if c, _ := mine.Next(); c.OutTradeNo != "FL-1" || c.Status != paywatch.TradeSuccess || !c.Final {
		t.Fatalf("change %+v", c)
	}
	if c, ok := other.Next(); ok {
		t.Errorf("another account's event reached the feed: %+v", c)
	}
	cancel()
	waitDone(t, done)
}
