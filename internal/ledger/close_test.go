package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// A close recorded while the order is NOT_OPENED (Alipay has no trade to
// close) is kept: no new link for the order, and the order is listed for
// watching until its link's expiry, on every back end.
func TestMarkClosed(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		l := open(t, b.fresh(t))
		a := l.Account(app, "sandbox")
		now := time.Now().Truncate(time.Millisecond)
		until := now.Add(2 * time.Hour)
		n := NewOrder{OutTradeNo: "C1", Kind: "web", Amount: 500, Title: "报价", PayableUntil: now.Add(time.Hour)}
		if _, _, err := a.RecordOrder(ctx, n); err != nil {
			t.Fatal(err)
		}
		// The same link again, later: payable until the later expiry.
		n.PayableUntil = until
		if o, _, err := a.RecordOrder(ctx, n); err != nil || !o.PayableUntil.Equal(until) {
			t.Fatalf("RecordOrder again = %+v, %v; want payable until %s", o, err, until)
		}
		o, err := a.MarkClosed(ctx, "C1", now, "claude-ai")
		if err != nil || !o.ClosedAt.Equal(now) || o.Status != StatusNotOpened || !o.PayableUntil.Equal(until) {
			t.Fatalf("MarkClosed = %+v, %v", o, err)
		}
		// A second close keeps the first time.
		if o, err := a.MarkClosed(ctx, "C1", now.Add(time.Minute), "claude-ai"); err != nil || !o.ClosedAt.Equal(now) {
			t.Fatalf("MarkClosed again = %+v, %v; want the first close kept", o, err)
		}
		_, _, err = a.RecordOrder(ctx, n)
		var oe *OrderError
		if !errors.Is(err, ErrOrderFinal) || !errors.As(err, &oe) || !oe.Existing.ClosedAt.Equal(now) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("a link for a closed order = %v; want ErrOrderFinal with the close time", err)
		}
		got, err := a.ClosedUnopened(ctx, now)
		if err != nil || len(got) != 1 || got[0].OutTradeNo != "C1" {
			t.Fatalf("ClosedUnopened = %+v, %v", got, err)
		}
		if got, err := a.ClosedUnopened(ctx, until); err != nil || len(got) != 0 {
			t.Fatalf("ClosedUnopened after the expiry = %+v, %v; want none", got, err)
		}
		// Once Alipay's trade is seen, it is not NOT_OPENED any more.
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "C1", Status: alipay.TradeClosed, Source: SourceWatch}); err != nil {
			t.Fatal(err)
		}
		if got, err := a.ClosedUnopened(ctx, now); err != nil || len(got) != 0 {
			t.Fatalf("ClosedUnopened after TRADE_CLOSED = %+v, %v; want none", got, err)
		}
		// A close of an order the ledger never saw is recorded too, and
		// refuses a later link.
		if o, err := a.MarkClosed(ctx, "C2", now, "claude-ai"); err != nil || o.Kind != KindExternal || !o.ClosedAt.Equal(now) {
			t.Fatalf("MarkClosed of an unknown order = %+v, %v", o, err)
		}
		if _, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: "C2", Kind: "qr", Amount: 1, Title: "x"}); !errors.Is(err, ErrOrderFinal) {
			t.Fatalf("a link for an unknown order closed before = %v; want ErrOrderFinal", err)
		}
		page, err := a.ListOrders(ctx, Filter{})
		if err != nil || len(page.Orders) != 2 || page.Orders[0].ClosedAt.IsZero() {
			t.Fatalf("ListOrders = %+v, %v; want the closes shown", page, err)
		}
	})
}
