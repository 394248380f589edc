package paywatch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// DefaultIntervals are the waits before each query of one order when
// Options.Intervals is empty; the last one repeats. Each wait is spread by
// ±Jitter so that orders watched together do not query together.
var DefaultIntervals = []time.Duration{2 * time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second}

const (
	// DefaultDeadline is how long an order is watched when Options.Deadline
	// is 0.
	DefaultDeadline = 30 * time.Minute
	// DefaultMaxOrders bounds the orders watched at once when
	// Options.MaxOrders is 0.
	DefaultMaxOrders = 100
	// Jitter is the spread of each wait: ±20% of it, at random.
	Jitter = 0.2
	// DefaultMaxFailures is Options.MaxFailures when 0.
	DefaultMaxFailures = 8
	// DefaultBreakerThreshold is Options.BreakerThreshold when 0.
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is Options.BreakerCooldown when 0.
	DefaultBreakerCooldown = 30 * time.Second
	// DefaultBreakerMaxCooldown is Options.BreakerMaxCooldown when 0.
	DefaultBreakerMaxCooldown = 5 * time.Minute
	// DefaultBreakerGiveUp is Options.BreakerGiveUp when 0.
	DefaultBreakerGiveUp = 6
)

// Options configure a Watcher. The zero value uses the defaults.
type Options struct {
	// Intervals are the waits before each query of one order; the last
	// one repeats. nil = DefaultIntervals (2s, 3s, 5s, 10s, 20s, then 30s).
	Intervals []time.Duration
	// Deadline is how long an order is watched after Watch; 0 = 30 minutes.
	Deadline time.Duration
	// MaxOrders bounds the orders watched at once; beyond it the oldest
	// watch is dropped. 0 = 100.
	MaxOrders int
	Logger    *slog.Logger // nil = discard; never given keys or URLs
	Clock     Clock        // nil = the wall clock
	// Rand returns a number in [0, 1) that places a wait within its
	// ±Jitter; it is called from several goroutines. nil = math/rand/v2;
	// tests give a constant (0.5 = no jitter).
	Rand func() float64

	// A failed query is one Alipay did not answer usefully: a network
	// error, HTTP 5xx, a system error (20000, ACQ.SYSTEM_ERROR), or an
	// answer without trade_status. Queries make one attempt each: give
	// New a client with alipay.Config.MaxAttempts 1, the schedule retries.

	// MaxFailures stops one watch after that many of its own queries fail
	// in a row; 0 = 8.
	MaxFailures int
	// BreakerThreshold: after that many failed queries in a row across all
	// watches no watch queries for a pause; 0 = 5.
	BreakerThreshold int
	// BreakerCooldown is the first pause; each failed probe after a pause
	// doubles it up to BreakerMaxCooldown. 0 = 30s, 5 minutes.
	BreakerCooldown    time.Duration
	BreakerMaxCooldown time.Duration
	// BreakerGiveUp: after that many failed probes in a row (one query
	// after each pause) every watch stops; 0 = 6, about 17 minutes of
	// failure with the default pauses.
	BreakerGiveUp int

	// Leases, when set (the ledger, shared by several processes), let only
	// one process query a given order: the others skip their queries while
	// another holds the order's lease. nil = every watch queries.
	Leases Leases
	// Holder names this process in Leases; "" = host, pid and a random part.
	Holder string
}

// Watcher watches orders, each in its own goroutine, and calls its
// listeners on every change. Its methods are safe for concurrent use.
type Watcher struct {
	q     Querier
	o     Options
	log   *slog.Logger
	clock Clock
	br    *breaker

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	seq       uint64
	watches   map[string]*watch
	listeners []func(context.Context, Change)
	subs      map[string]map[*subscription]struct{}
	closes    closeBook
}

// watch is one watched order.
type watch struct {
	no       string
	seq      uint64 // order of Watch calls, to find the oldest
	deadline time.Time
	cancel   context.CancelFunc
	done     chan struct{} // closed when the goroutine has ended
}

// New returns a Watcher whose goroutines end on Close or when ctx ends.
func New(ctx context.Context, q Querier, o Options) *Watcher {
	if len(o.Intervals) == 0 {
		o.Intervals = DefaultIntervals
	}
	// The watch goroutines read it: a caller changing its slice later must
	// not change (or race with) them.
	o.Intervals = slices.Clone(o.Intervals)
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.MaxOrders <= 0 {
		o.MaxOrders = DefaultMaxOrders
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = DefaultBreakerThreshold
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = DefaultBreakerCooldown
	}
	if o.BreakerMaxCooldown < o.BreakerCooldown {
		o.BreakerMaxCooldown = max(DefaultBreakerMaxCooldown, o.BreakerCooldown)
	}
	if o.BreakerGiveUp <= 0 {
		o.BreakerGiveUp = DefaultBreakerGiveUp
	}
	if o.Leases != nil && o.Holder == "" {
		o.Holder = newHolder()
	}
	w := &Watcher{q: q, o: o, log: o.Logger, clock: o.Clock, br: newBreaker(o), watches: map[string]*watch{},
		subs: map[string]map[*subscription]struct{}{}, closes: closeBook{at: map[string]time.Time{}}}
	if w.log == nil {
		w.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if w.clock == nil {
		w.clock = realClock{}
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w
}

// OnChange adds a listener. Listeners run on the watch's goroutine: never
// at once for one order, possibly at once for different orders; they should
// return quickly.
func (w *Watcher) OnChange(f func(context.Context, Change)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.listeners = append(w.listeners, f)
}

// Watch starts watching an order, unless it is watched already, and returns
// a channel closed when that watch ends: at a terminal status, at its
// deadline, on an error that retrying cannot fix, after MaxFailures failed
// queries in a row, when the breaker gives up on Alipay, when dropped for a
// newer one, or on Close. After Close it returns a closed channel.
func (w *Watcher) Watch(outTradeNo string) <-chan struct{} {
	return w.WatchUntil(outTradeNo, time.Time{})
}

// WatchUntil is Watch with the watch's deadline at until rather than
// Options.Deadline from now (zero until = the default): an order whose link
// expires later is watched as long as it can be paid. A watch already
// running has its deadline moved later, never earlier.
func (w *Watcher) WatchUntil(outTradeNo string, until time.Time) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	deadline := w.clock.Now().Add(w.o.Deadline)
	if !until.IsZero() {
		deadline = until
	}
	if e, ok := w.watches[outTradeNo]; ok {
		if deadline.After(e.deadline) {
			e.deadline = deadline
		}
		return e.done
	}
	if w.closed || w.ctx.Err() != nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	if len(w.watches) >= w.o.MaxOrders {
		w.dropOldest()
	}
	ctx, cancel := context.WithCancel(w.ctx)
	w.seq++
	e := &watch{no: outTradeNo, seq: w.seq, deadline: deadline, cancel: cancel, done: make(chan struct{})}
	w.watches[outTradeNo] = e
	w.wg.Add(1)
	go w.run(ctx, e)
	w.log.Info("开始关注付款 / payment watch started", "outTradeNo", outTradeNo, "watching", len(w.watches))
	return e.done
}

// dropOldest stops the longest-running watch; w.mu is held. Watches of
// orders the merchant closed (MarkClosed) are never dropped: they are what
// closes the trade when the buyer opens the link, and there are at most
// maxCloses of them.
func (w *Watcher) dropOldest() {
	var oldest *watch
	for _, e := range w.watches {
		if _, closed := w.closes.at[e.no]; closed {
			continue
		}
		if oldest == nil || e.seq < oldest.seq {
			oldest = e
		}
	}
	if oldest == nil {
		return
	}
	oldest.cancel()
	delete(w.watches, oldest.no)
	w.log.Warn("付款关注已放弃: 同时关注的订单过多, 请改为查询 / payment watch dropped: too many orders watched at once; query it instead",
		"outTradeNo", oldest.no, "max_orders", w.o.MaxOrders)
}

// Watching reports whether an order is being watched.
func (w *Watcher) Watching(outTradeNo string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.watches[outTradeNo]
	return ok
}

// Len is the number of orders being watched.
func (w *Watcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watches)
}

// Close stops every watch and waits for their goroutines to end.
func (w *Watcher) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// run queries one order after each wait until a terminal status, its
// deadline, an error retrying cannot fix, too many failures, or
// cancellation. The first query also waits: right after a link is made the
// buyer cannot have opened it. While the breaker pauses, the watch waits for
// the pause, then its schedule goes on.
func (w *Watcher) run(ctx context.Context, e *watch) {
	defer w.wg.Done()
	defer w.finish(e)
	last, fails, i := "", 0, 0
	next := w.interval(0)
	for {
		now := w.clock.Now()
		deadline := w.deadlineOf(e)
		if !now.Before(deadline) {
			w.log.Info("付款关注到期 / payment watch deadline reached", "outTradeNo", e.no, "status", last)
			return
		}
		if w.clock.Sleep(ctx, min(next, deadline.Sub(now))) != nil {
			return
		}
		if !w.mayQuery(ctx, e.no) {
			// Another process queries it and its changes come through
			// the ledger's events; try again at the next interval, in
			// case that process dies.
			next = w.interval(i)
			continue
		}
		v, pause := w.br.admit(w.clock.Now())
		if v == hold {
			next = pause + w.interval(i)
			continue
		}
		status, trade, err := w.poll(ctx, e.no)
		if ctx.Err() != nil {
			w.br.abort(v)
			return
		}
		i++
		next = w.interval(i)
		paused, gaveUp := w.br.record(v, w.clock.Now(), gatewayFailure(err))
		switch {
		case gaveUp:
			w.giveUp(err)
			return
		case paused > 0:
			w.log.LogAttrs(ctx, slog.LevelWarn, "付款关注: 支付宝持续出错, 所有关注暂停 / payment watch: Alipay keeps failing, every watch pauses",
				append([]slog.Attr{slog.Duration("pause", paused)}, errAttrs(err)...)...)
		}
		switch {
		case err != nil && !retryable(err):
			w.log.LogAttrs(ctx, slog.LevelWarn, "付款关注停止: 支付宝返回了重试也无法解决的错误 / payment watch stopped: Alipay error that retrying cannot fix",
				append([]slog.Attr{slog.String("outTradeNo", e.no)}, errAttrs(err)...)...)
			return
		case err != nil:
			if fails++; fails >= w.o.MaxFailures {
				w.log.LogAttrs(ctx, slog.LevelWarn, "付款关注停止: 支付宝连续失败次数过多, 请改为查询订单 / payment watch stopped: Alipay failed too many times in a row; query the order instead",
					append([]slog.Attr{slog.String("outTradeNo", e.no), slog.Int("failures", fails)}, errAttrs(err)...)...)
				return
			}
			w.log.LogAttrs(ctx, slog.LevelDebug, "付款关注: 查询失败, 稍后重试 / payment watch: query failed, will retry",
				append([]slog.Attr{slog.String("outTradeNo", e.no)}, errAttrs(err)...)...)
		default:
			fails = 0
			if status != last {
				last = status
				c := Change{OutTradeNo: e.no, Status: status, Trade: trade, Final: Terminal(status)}
				w.log.Info("付款状态 / payment status", "outTradeNo", e.no, "status", status, "final", c.Final)
				w.notify(ctx, c)
				if c.Final {
					return
				}
			}
			// On every sighting, not only the first: the buyer may have
			// opened the link just before the merchant's close was
			// remembered.
			if status == WaitBuyerPay && w.closeOpened(ctx, e.no) {
				// Closed at the merchant's request: the next query
				// should see TRADE_CLOSED.
				next = w.interval(0)
			}
		}
	}
}

// interval is the wait before query i, spread by ±Jitter.
func (w *Watcher) interval(i int) time.Duration {
	d := w.o.Intervals[min(i, len(w.o.Intervals)-1)]
	return d + time.Duration(float64(d)*Jitter*(2*w.o.Rand()-1))
}

// giveUp stops every watch when the breaker gives up on Alipay, in one log
// line; orders watched later start afresh.
func (w *Watcher) giveUp(err error) {
	w.mu.Lock()
	n := len(w.watches)
	for no, e := range w.watches {
		e.cancel()
		delete(w.watches, no)
	}
	w.mu.Unlock()
	w.log.LogAttrs(w.ctx, slog.LevelWarn, "付款关注: 支付宝长时间出错, 已停止所有关注; 请改为查询订单 / payment watch: Alipay failed for too long, stopped every watch; query the orders instead",
		append([]slog.Attr{slog.Int("stopped", n)}, errAttrs(err)...)...)
}

// finish forgets a watch that has ended, unless a newer watch of the same
// order took its place, and closes its done channel.
func (w *Watcher) finish(e *watch) {
	w.mu.Lock()
	if w.watches[e.no] == e {
		delete(w.watches, e.no)
	}
	_, replaced := w.watches[e.no]
	w.mu.Unlock()
	e.cancel()
	if !replaced {
		w.releaseLease(e.no)
	}
	close(e.done)
}

// errNoStatus is an answer without trade_status; it is retried.
var errNoStatus = errors.New("alipay.trade.query answered without trade_status")

// poll returns the order's status: NotOpened while Alipay has no trade.
func (w *Watcher) poll(ctx context.Context, no string) (string, *alipay.TradeQuery, error) {
	q, err := w.q.Query(ctx, no)
	switch {
	case alipay.IsSubCode(err, alipay.SubTradeNotExist):
		return NotOpened, nil, nil
	case err != nil:
		return "", nil, err
	case q.TradeStatus == "":
		return "", nil, errNoStatus
	}
	return q.TradeStatus, q, nil
}

// notify stamps a change with the order's close, logs a payment on a
// closed order, and tells the listeners and subscribers.
func (w *Watcher) notify(ctx context.Context, c Change) {
	w.mu.Lock()
	c.ClosedAt = w.closes.at[c.OutTradeNo]
	ls := slices.Clone(w.listeners)
	subs := make([]*subscription, 0, len(w.subs[c.OutTradeNo]))
	for sub := range w.subs[c.OutTradeNo] {
		subs = append(subs, sub)
	}
	w.mu.Unlock()
	if c.PaidAfterClose() {
		attrs := []slog.Attr{slog.String("outTradeNo", c.OutTradeNo), slog.String("status", c.Status),
			slog.Time("closed_at", c.ClosedAt)}
		if c.Trade != nil {
			attrs = append(attrs, slog.String("tradeNo", c.Trade.TradeNo), slog.String("total_amount", c.Trade.TotalAmount))
		}
		w.log.LogAttrs(ctx, slog.LevelWarn, "ALERT 警报: the buyer paid an order that was closed; refund it with refund-alipay-payment "+
			"(买家支付了已关闭的订单, 建议退款)", attrs...)
	}
	for _, f := range ls {
		f(ctx, c)
	}
	for _, sub := range subs {
		sub.put(c)
	}
}

// retryable: the answer may differ next time (network, system errors,
// an incomplete answer); anything else would repeat forever.
func retryable(err error) bool {
	var ae *alipay.Error
	return errors.Is(err, errNoStatus) || errors.As(err, &ae) && ae.Retryable
}

// errAttrs describe an error for the log by its codes only: transport
// errors quote the request URL, which is not for the log.
func errAttrs(err error) []slog.Attr {
	var ae *alipay.Error
	switch {
	case errors.Is(err, errNoStatus):
		return []slog.Attr{slog.String("reason", "no trade_status")}
	case errors.Is(err, alipay.ErrBadSignature):
		return []slog.Attr{slog.String("reason", "signature verification failed")}
	case errors.Is(err, alipay.ErrAnswerMismatch):
		return []slog.Attr{slog.String("reason", "the gateway answered about another order")}
	case errors.As(err, &ae) && ae.Code != "":
		return []slog.Attr{slog.String("code", ae.Code), slog.String("sub_code", ae.SubCode), slog.Bool("retryable", ae.Retryable)}
	case errors.As(err, &ae) && ae.HTTPStatus != 0:
		return []slog.Attr{slog.Int("http_status", ae.HTTPStatus), slog.Bool("retryable", ae.Retryable)}
	case errors.As(err, &ae):
		return []slog.Attr{slog.String("reason", "no answer"), slog.Bool("retryable", ae.Retryable)}
	}
	return []slog.Attr{slog.String("reason", "invalid request")}
}
