package paywatch_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// A feed gets the watch's changes and published ones, newest first, and
// nothing after Close.
func TestSubscribe(t *testing.T) {
	l := startLocal(t)
	w, clk, rec := newWatcher(t, l.client, paywatch.Options{})
	no, link := l.link(t, 1999)
	f := w.Subscribe(no)
	other := w.Subscribe("SOMEONE-ELSE")
	defer other.Close()
	if _, ok := f.Next(); ok {
		t.Fatal("a new feed has a change")
	}
	w.Publish(context.Background(), paywatch.Change{OutTradeNo: no, Status: paywatch.TradeSuccess})
	waitReady(t, f)
	c, ok := f.Next()
	if !ok || c.Status != paywatch.TradeSuccess || !c.Final || c.OutTradeNo != no {
		t.Fatalf("published change %+v %v", c, ok)
	}
	if got := rec.next(t); got.Status != paywatch.TradeSuccess {
		t.Errorf("listeners did not get the published change: %+v", got)
	}
	if _, ok := other.Next(); ok {
		t.Error("another order's feed got the change")
	}

	w.Watch(no)
	if _, err := localalipay.OpenLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	clk.next(t)
	rec.next(t)
	waitReady(t, f)
	if c, _ := f.Next(); c.Status != paywatch.WaitBuyerPay || c.Trade == nil {
		t.Fatalf("watched change %+v, want WAIT_BUYER_PAY", c)
	}
	f.Close()
	f.Close() // twice is fine
	w.Publish(context.Background(), paywatch.Change{OutTradeNo: no, Status: paywatch.TradeClosed})
	rec.next(t)
	if c, ok := f.Next(); ok {
		t.Errorf("a closed feed got %+v", c)
	}
}

func waitReady(t *testing.T, f *paywatch.Feed) {
	t.Helper()
	select {
	case <-f.Ready():
	case <-time.After(bound):
		t.Fatal("no change on the feed")
	}
}

// The merchant closed an order before the buyer opened its link (Alipay had
// no trade to close): when the buyer opens it, the watcher closes it, and
// the link can no longer be paid.
func TestMarkClosedClosesWhenOpened(t *testing.T) {
	l := startLocal(t)
	w, clk, rec := newWatcher(t, l.client, paywatch.Options{})
	no, link := l.link(t, 1999)
	if _, err := l.client.Close(context.Background(), no); !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
		t.Fatalf("close before opening: %v", err)
	}
	closedAt := clk.Now()
	w.MarkClosed(no, closedAt, closedAt.Add(time.Hour))
	if at, ok := w.ClosedAt(no); !ok || !at.Equal(closedAt) {
		t.Fatalf("ClosedAt = %v %v", at, ok)
	}
	clk.next(t)
	if c := rec.next(t); c.Status != paywatch.NotOpened || !c.ClosedAt.Equal(closedAt) {
		t.Fatalf("first change %+v", c)
	}
	if _, err := localalipay.OpenLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	clk.next(t)
	if c := rec.next(t); c.Status != paywatch.WaitBuyerPay {
		t.Fatalf("second change %+v", c)
	}
	clk.next(t)
	if c := rec.next(t); c.Status != paywatch.TradeClosed || !c.Final || c.PaidAfterClose() {
		t.Fatalf("third change %+v, want TRADE_CLOSED", c)
	}
	if _, err := localalipay.PayLink(context.Background(), link); !errors.Is(err, localalipay.ErrCashier) {
		t.Fatalf("paying the closed order: %v", err)
	}
}

// A buyer who pays a closed order before the watch can close it is an
// alert: the change says PaidAfterClose and the log says to refund.
func TestPaidAfterClose(t *testing.T) {
	l := startLocal(t)
	var logBuf lockedBuffer
	// counting is a Querier but not a Closer: the watch cannot close.
	w, clk, rec := newWatcher(t, &counting{Querier: l.client}, paywatch.Options{
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	no, link := l.link(t, 1999)
	w.MarkClosed(no, clk.Now(), clk.Now().Add(time.Hour))
	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	clk.next(t)
	c := rec.next(t)
	if c.Status != paywatch.TradeSuccess || !c.PaidAfterClose() || c.Trade == nil {
		t.Fatalf("change %+v, want a payment after close", c)
	}
	w.Close()
	if log := logBuf.String(); !strings.Contains(log, "ALERT") || !strings.Contains(log, no) || !strings.Contains(log, "refund") {
		t.Errorf("no alert in the log:\n%s", log)
	}
}

// WatchUntil moves a running watch's deadline later, never earlier.
func TestWatchUntil(t *testing.T) {
	l := startLocal(t)
	w, clk, rec := newWatcher(t, l.client, paywatch.Options{Deadline: 4 * s, Intervals: []time.Duration{2 * s}})
	no, _ := l.link(t, 100)
	done := w.Watch(no)
	if w.WatchUntil(no, clk.Now().Add(time.Second)) != done {
		t.Fatal("WatchUntil started a second watch")
	}
	w.WatchUntil(no, clk.Now().Add(8*s))
	clk.next(t) // 2s
	rec.next(t)
	clk.next(t) // 4s: the old deadline
	clk.next(t) // 6s
	clk.waitSleepers(t, 1)
	if !w.Watching(no) {
		t.Fatal("the watch ended at its old deadline")
	}
	clk.next(t) // 8s
	waitDone(t, done)
}

// The buyer opened the link just before the merchant's close was
// remembered: the watch had already reported WAIT_BUYER_PAY, and still
// closes the trade on its next sighting.
func TestMarkClosedAfterOpenSeen(t *testing.T) {
	l := startLocal(t)
	w, clk, rec := newWatcher(t, l.client, paywatch.Options{})
	no, link := l.link(t, 1999)
	if _, err := localalipay.OpenLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	w.Watch(no)
	clk.next(t)
	if c := rec.next(t); c.Status != paywatch.WaitBuyerPay {
		t.Fatalf("first change %+v", c)
	}
	w.MarkClosed(no, clk.Now(), clk.Now().Add(time.Hour))
	// The close happens on the next sighting of WAIT_BUYER_PAY, or already
	// on the one just reported when MarkClosed landed before that poll's
	// close check; either way a later poll reports TRADE_CLOSED.
	for step := 0; step < 3; step++ {
		clk.next(t)
		if c, ok := changeOrSleep(t, clk, rec); ok {
			if c.Status != paywatch.TradeClosed || !c.Final {
				t.Fatalf("change %+v, want TRADE_CLOSED", c)
			}
			return
		}
	}
	t.Fatal("the closed trade was never reported")
}

// changeOrSleep waits until the watch has reported a change, or has gone
// back to sleep without one.
func changeOrSleep(t *testing.T, clk *fakeClock, rec recorder) (paywatch.Change, bool) {
	t.Helper()
	timeout := time.After(bound)
	for {
		clk.mu.Lock()
		n, ch := len(clk.sleepers), clk.changed
		clk.mu.Unlock()
		if n > 0 { // asleep again: a change of that poll was sent before it slept
			select {
			case c := <-rec:
				return c, true
			default:
				return paywatch.Change{}, false
			}
		}
		select {
		case c := <-rec:
			return c, true
		case <-ch:
		case <-timeout:
			t.Fatal("the watch neither reported a change nor slept again")
		}
	}
}
