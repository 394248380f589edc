package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// TestTradeBookFromLedgerAfterRestart: a trade number the ledger stored
// before a restart is known to the fresh process's book through
// ledgerTrades (alipay's TestTradeBookFallback shows a known number makes
// an answer naming another one a mismatch); an order without one, or
// unknown, gives none.
func TestTradeBookFromLedgerAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ledger.FileName)
	const tn = "2026112922001400000000000042"
	l, err := ledger.Open(ctx, ledger.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	a := l.Account("2021000000000001", "local")
	for _, no := range []string{"TB-1", "TB-2"} {
		if _, _, err := a.RecordOrder(ctx, ledger.NewOrder{OutTradeNo: no, Kind: "web", Amount: 100, Title: "t", Who: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.RecordStatus(ctx, ledger.StatusSeen{OutTradeNo: "TB-1", Status: "WAIT_BUYER_PAY", TradeNo: tn, Source: ledger.SourceQuery, Who: "test"}); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// The restart: a new ledger handle, a new, empty book.
	l, err = ledger.Open(ctx, ledger.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	book := alipay.NewTradeBook(0)
	book.SetFallback(ledgerTrades(l.Account("2021000000000001", "local")))
	for no, want := range map[string]string{"TB-1": tn, "TB-2": "", "TB-unknown": ""} {
		if got := book.Known(ctx, no); got != want {
			t.Errorf("Known(%s) = %q, want %q", no, got, want)
		}
	}
	if got := book.Get("TB-1"); got != tn {
		t.Errorf("the stored number was not learnt: %q", got)
	}
}
