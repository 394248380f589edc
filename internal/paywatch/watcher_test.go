package paywatch_test

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

const s = time.Second

// newWatcher returns a Watcher on the fake clock that records changes; it
// is closed when the test ends.
func newWatcher(t *testing.T, q paywatch.Querier, o paywatch.Options) (*paywatch.Watcher, *fakeClock, recorder) {
	t.Helper()
	clk := newFakeClock()
	o.Clock = clk
	if o.Rand == nil {
		o.Rand = noJitter // exact waits; jitter has its own test
	}
	w := paywatch.New(context.Background(), q, o)
	t.Cleanup(w.Close)
	rec := make(recorder, 16)
	w.OnChange(rec.listen)
	return w, clk, rec
}

// The buyer opens the link, then pays: three changes, then the watch ends.
func TestWatchUntilPaid(t *testing.T) {
	l := startLocal(t)
	q := &counting{Querier: l.client}
	w, clk, rec := newWatcher(t, q, paywatch.Options{})
	no, link := l.link(t, 19999) // ¥199.99
	done := w.Watch(no)
	if w.Watch(no) != done || w.Len() != 1 || !w.Watching(no) {
		t.Fatalf("a second Watch of the same order started another watch (len %d)", w.Len())
	}

	clk.next(t) // 2s
	c := rec.next(t)
	if c.OutTradeNo != no || c.Status != paywatch.NotOpened || c.Trade != nil || c.Final {
		t.Fatalf("first change %+v, want NOT_OPENED", c)
	}
	clk.next(t) // 5s: still not opened, nothing to report
	clk.waitSleepers(t, 1)
	rec.none(t)

	tradeNo, err := localalipay.OpenLink(context.Background(), link)
	if err != nil {
		t.Fatal(err)
	}
	clk.next(t) // 10s
	c = rec.next(t)
	if c.Status != paywatch.WaitBuyerPay || c.Final || c.Trade == nil || c.Trade.TradeNo != tradeNo {
		t.Fatalf("second change %+v, want WAIT_BUYER_PAY of trade %s", c, tradeNo)
	}

	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	clk.next(t) // 20s
	c = rec.next(t)
	if c.Status != paywatch.TradeSuccess || !c.Final || c.Trade.TotalAmount != "199.99" {
		t.Fatalf("third change %+v, want a final TRADE_SUCCESS of 199.99", c)
	}
	waitDone(t, done)
	if w.Watching(no) || w.Len() != 0 {
		t.Error("the order is still watched after TRADE_SUCCESS")
	}
	if got, want := clk.sleeps(), []time.Duration{2 * s, 3 * s, 5 * s, 10 * s}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if q.count() != 4 {
		t.Errorf("%d queries, want 4", q.count())
	}
	rec.none(t)
}

// An order nobody opens is watched until its deadline, each query after a
// wait, the last wait cut short so that the last query falls on the
// deadline.
func TestWatchDeadline(t *testing.T) {
	tests := []struct {
		name      string
		deadline  time.Duration
		intervals []time.Duration
		waits     []time.Duration
	}{
		{"default backoff", 12 * s, nil, []time.Duration{2 * s, 3 * s, 5 * s, 2 * s}},
		{"capped", 10 * s, []time.Duration{1 * s, 4 * s}, []time.Duration{1 * s, 4 * s, 4 * s, 1 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLocal(t)
			q := &counting{Querier: l.client}
			w, clk, rec := newWatcher(t, q, paywatch.Options{Deadline: tt.deadline, Intervals: tt.intervals})
			no, _ := l.link(t, 100)
			done := w.Watch(no)
			clk.next(t)
			if c := rec.next(t); c.Status != paywatch.NotOpened {
				t.Fatalf("first change %+v", c)
			}
			for range tt.waits[1:] {
				clk.next(t)
			}
			waitDone(t, done)
			if got := clk.sleeps(); !slices.Equal(got, tt.waits) {
				t.Errorf("waits %v, want %v", got, tt.waits)
			}
			if q.count() != len(tt.waits) {
				t.Errorf("%d queries, want %d", q.count(), len(tt.waits))
			}
			if w.Watching(no) {
				t.Error("still watched after the deadline")
			}
			rec.none(t)
		})
	}
}

// A trade closed unpaid is final too.
func TestWatchClosed(t *testing.T) {
	l := startLocal(t)
	w, clk, rec := newWatcher(t, l.client, paywatch.Options{})
	no, link := l.link(t, 500)
	if _, err := localalipay.OpenLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	done := w.Watch(no)
	clk.next(t)
	if c := rec.next(t); c.Status != paywatch.WaitBuyerPay || c.Final {
		t.Fatalf("first change %+v, want WAIT_BUYER_PAY", c)
	}
	if _, err := l.client.Close(context.Background(), no); err != nil {
		t.Fatalf("alipay.trade.close: %v", err)
	}
	clk.next(t)
	if c := rec.next(t); c.Status != paywatch.TradeClosed || !c.Final || paywatch.Paid(c.Status) {
		t.Fatalf("second change %+v, want a final TRADE_CLOSED", c)
	}
	waitDone(t, done)
}

// System errors are retried; an error retrying cannot fix ends the watch.
func TestWatchErrors(t *testing.T) {
	t.Run("retryable", func(t *testing.T) {
		l := startLocal(t)
		q := &counting{Querier: l.client}
		w, clk, rec := newWatcher(t, q, paywatch.Options{})
		if err := l.srv.SetFaults(localalipay.Faults{SystemErrorRate: 1, SystemErrorKind: "acq", Methods: []string{alipay.MethodQuery}}); err != nil {
			t.Fatal(err)
		}
		no, _ := l.link(t, 100)
		w.Watch(no)
		clk.next(t)
		clk.next(t)
		clk.next(t)
		clk.waitSleepers(t, 1)
		if q.count() != 3 || !w.Watching(no) {
			t.Fatalf("after 3 system errors: %d queries, watching %t", q.count(), w.Watching(no))
		}
		rec.none(t)
		l.srv.ClearFaults()
		clk.next(t)
		if c := rec.next(t); c.Status != paywatch.NotOpened {
			t.Fatalf("change %+v, want NOT_OPENED once Alipay answers", c)
		}
	})
	t.Run("permanent", func(t *testing.T) {
		l := startLocal(t)
		cr := l.srv.Credentials()
		cr.AppID = "2021000000000999"
		wrongApp := l1Client(t, cr)
		var log bytes.Buffer
		q := &counting{Querier: wrongApp}
		w, clk, rec := newWatcher(t, q, paywatch.Options{Logger: slog.New(slog.NewJSONHandler(&log, nil))})
		done := w.Watch("PW-WRONG-APP")
		clk.next(t)
		waitDone(t, done)
		if q.count() != 1 || w.Watching("PW-WRONG-APP") {
			t.Errorf("%d queries, watching %t; want one query and the watch ended", q.count(), w.Watching("PW-WRONG-APP"))
		}
		rec.none(t)
		if !strings.Contains(log.String(), "retrying cannot fix") || !strings.Contains(log.String(), `"code":"40002"`) {
			t.Errorf("log does not say why the watch stopped:\n%s", log.String())
		}
		if strings.Contains(log.String(), "gateway.do") || strings.Contains(log.String(), "sign=") {
			t.Errorf("log carries URLs or signatures:\n%s", log.String())
		}
	})
}

// At most MaxOrders orders are watched; the oldest is dropped, in the log.
func TestWatchBound(t *testing.T) {
	l := startLocal(t)
	var log lockedBuffer
	w, clk, _ := newWatcher(t, l.client, paywatch.Options{MaxOrders: 3, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	var nos []string
	var dones []<-chan struct{}
	for i := range 4 {
		no, _ := l.link(t, 100)
		nos = append(nos, no)
		dones = append(dones, w.Watch(no))
		if i < 3 {
			clk.waitSleepers(t, i+1)
		}
	}
	waitDone(t, dones[0])
	if w.Len() != 3 || w.Watching(nos[0]) {
		t.Fatalf("len %d, oldest watched %t; want 3 without the oldest", w.Len(), w.Watching(nos[0]))
	}
	for _, no := range nos[1:] {
		if !w.Watching(no) {
			t.Errorf("%s not watched", no)
		}
	}
	if !strings.Contains(log.String(), "payment watch dropped") || !strings.Contains(log.String(), nos[0]) {
		t.Errorf("the drop is not in the log:\n%s", log.String())
	}
}

// A watch of an order the merchant closed is never the one dropped: it is
// what closes the trade when the buyer opens the link.
func TestWatchBoundKeepsClosed(t *testing.T) {
	l := startLocal(t)
	w, clk, _ := newWatcher(t, l.client, paywatch.Options{MaxOrders: 2})
	closed, _ := l.link(t, 100)
	w.MarkClosed(closed, time.Now(), time.Now().Add(time.Hour))
	clk.waitSleepers(t, 1)
	second, _ := l.link(t, 100)
	done := w.Watch(second)
	clk.waitSleepers(t, 2)
	third, _ := l.link(t, 100)
	w.Watch(third)
	waitDone(t, done)
	if !w.Watching(closed) || w.Watching(second) || !w.Watching(third) {
		t.Fatalf("watching closed %t, second %t, third %t; want the closed order kept and the oldest other dropped",
			w.Watching(closed), w.Watching(second), w.Watching(third))
	}
}

// Close and cancelling the context end every goroutine; Watch after Close
// starts nothing.
func TestWatchStops(t *testing.T) {
	tests := []struct {
		name string
		stop func(w *paywatch.Watcher, cancel context.CancelFunc)
	}{
		{"Close", func(w *paywatch.Watcher, _ context.CancelFunc) { w.Close() }},
		{"context", func(_ *paywatch.Watcher, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLocal(t)
			clk := newFakeClock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := paywatch.New(ctx, l.client, paywatch.Options{Clock: clk})
			defer w.Close()
			var dones []<-chan struct{}
			for range 5 {
				no, _ := l.link(t, 100)
				dones = append(dones, w.Watch(no))
			}
			clk.waitSleepers(t, 5)
			if n := watchGoroutines(); n != 5 {
				t.Fatalf("%d watch goroutines, want 5", n)
			}
			tt.stop(w, cancel)
			for _, d := range dones {
				waitDone(t, d)
			}
			w.Close() // waits for the goroutines to finish
			noWatchGoroutines(t)
			select {
			case <-w.Watch("PW-AFTER"):
			default:
				t.Error("Watch after the end started a watch")
			}
			if w.Len() != 0 {
				t.Error("Watch after the end left a watch behind")
			}
			noWatchGoroutines(t)
		})
	}
}

// watchGoroutines counts goroutines running a watch.
func watchGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "paywatch.(*Watcher).run(")
}

// noWatchGoroutines fails unless every watch goroutine has returned within
// the bound. Close returns once each goroutine has called wg.Done, which its
// run frame does last: a stack dump taken in that instant still shows the
// frame, so the count is awaited, not sampled once.
func noWatchGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		n := watchGoroutines()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d watch goroutines left", n)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// lockedBuffer is a log destination written by watch goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The Watcher keeps its own copy of Options.Intervals: the caller changing
// its slice afterwards changes no wait.
func TestWatchOwnsIntervals(t *testing.T) {
	l := startLocal(t)
	intervals := []time.Duration{1 * s, 4 * s}
	w, clk, rec := newWatcher(t, l.client, paywatch.Options{Intervals: intervals})
	intervals[0], intervals[1] = time.Hour, time.Hour
	no, _ := l.link(t, 100)
	w.Watch(no)
	clk.waitSleepers(t, 1)
	if got, want := clk.sleeps(), []time.Duration{1 * s}; !slices.Equal(got, want) {
		t.Fatalf("first wait %v, want %v", got, want)
	}
	clk.next(t)
	if c := rec.next(t); c.Status != paywatch.NotOpened {
		t.Fatalf("first change %+v", c)
	}
	clk.waitSleepers(t, 1)
	if got, want := clk.sleeps(), []time.Duration{1 * s, 4 * s}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}
