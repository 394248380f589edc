package paywatch

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// subscription receives the changes of one order. It holds only the
// newest: a slow reader sees the latest status, never a stale queue.
type subscription struct {
	mu     sync.Mutex
	latest *Change
	ready  chan struct{} // has a value when latest is set
}

func (s *subscription) put(c Change) {
	s.mu.Lock()
	s.latest = &c
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Feed is one subscriber's view of an order's changes.
type Feed struct {
	sub    *subscription
	cancel func()
}

// Ready is signalled when a change has arrived since the last Next.
func (f *Feed) Ready() <-chan struct{} { return f.sub.ready }

// Next returns the newest change not yet returned, if any.
func (f *Feed) Next() (Change, bool) {
	f.sub.mu.Lock()
	defer f.sub.mu.Unlock()
	if f.sub.latest == nil {
		return Change{}, false
	}
	c := *f.sub.latest
	f.sub.latest = nil
	return c, true
}

// Close ends the subscription.
func (f *Feed) Close() { f.cancel() }

// Subscribe returns a feed of the order's changes, from the watch's queries
// and from Publish, until Close. It does not start a watch: call Watch for
// that.
func (w *Watcher) Subscribe(outTradeNo string) *Feed {
	sub := &subscription{ready: make(chan struct{}, 1)}
	w.mu.Lock()
	if w.subs[outTradeNo] == nil {
		w.subs[outTradeNo] = map[*subscription]struct{}{}
	}
	w.subs[outTradeNo][sub] = struct{}{}
	w.mu.Unlock()
	var once sync.Once
	return &Feed{sub: sub, cancel: func() {
		once.Do(func() {
			w.mu.Lock()
			delete(w.subs[outTradeNo], sub)
			if len(w.subs[outTradeNo]) == 0 {
				delete(w.subs, outTradeNo)
			}
			w.mu.Unlock()
		})
	}}
}

// Publish tells the listeners and subscribers about a status learnt
// elsewhere, for example from a verified Alipay notification: waiting
// tools wake at once instead of at the watch's next query. The change is
// stamped with the order's close like the watch's own.
func (w *Watcher) Publish(ctx context.Context, c Change) {
	c.Final = Terminal(c.Status)
	w.notify(ctx, c)
}

// deadlineOf is a watch's current deadline.
func (w *Watcher) deadlineOf(e *watch) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return e.deadline
}

// maxCloses bounds the closes remembered; beyond it the oldest is
// forgotten. Closes live in memory: a restart forgets them.
const maxCloses = 10000

// closeBook remembers the orders the merchant closed; guarded by Watcher.mu.
type closeBook struct {
	at    map[string]time.Time
	order []string // oldest first
}

// MarkClosed remembers that the merchant closed an order at at, and
// watches it until until (its link's expiry): a buyer who opens the link
// later finds the trade closed as soon as the watch sees it open (when the
// Querier is a Closer), and a payment that still gets through is reported
// as Change.PaidAfterClose and logged as an alert.
func (w *Watcher) MarkClosed(outTradeNo string, at, until time.Time) {
	w.mu.Lock()
	if _, ok := w.closes.at[outTradeNo]; !ok {
		w.closes.order = append(w.closes.order, outTradeNo)
		if len(w.closes.order) > maxCloses {
			delete(w.closes.at, w.closes.order[0])
			w.closes.order = w.closes.order[1:]
		}
	}
	w.closes.at[outTradeNo] = at
	w.mu.Unlock()
	w.log.Info("商户已关闭订单, 继续关注到链接过期 / order closed by the merchant; watching it until its link expires", "outTradeNo", outTradeNo, "until", until)
	w.WatchUntil(outTradeNo, until)
}

// ClosedAt returns when the merchant closed an order (MarkClosed).
func (w *Watcher) ClosedAt(outTradeNo string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.closes.at[outTradeNo]
	return at, ok
}

// closeOpened closes an order the merchant closed before its trade
// existed, now that the buyer has opened it; it reports whether Alipay
// closed it.
func (w *Watcher) closeOpened(ctx context.Context, no string) bool {
	if _, closed := w.ClosedAt(no); !closed {
		return false
	}
	c, ok := w.q.(Closer)
	if !ok {
		return false
	}
	if _, err := c.Close(ctx, no); err != nil {
		w.log.LogAttrs(ctx, slog.LevelWarn, "付款关注: 买家打开了商户已关闭的订单, 关闭它失败 / payment watch: could not close an order the merchant closed, now opened by the buyer",
			append([]slog.Attr{slog.String("outTradeNo", no)}, errAttrs(err)...)...)
		return false
	}
	w.log.Info("付款关注: 买家打开了商户已关闭的订单, 已将其关闭 / payment watch: closed an order the merchant had closed, as the buyer opened it", "outTradeNo", no)
	return true
}
