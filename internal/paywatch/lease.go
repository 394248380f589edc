package paywatch

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Leases keep processes that share one ledger from querying the same order
// at once: a watch queries only while it holds its order's lease, and the
// others wait for the holder's changes (through the ledger's events) or for
// its lease to run out (the holder died). *ledger.Account satisfies it.
type Leases interface {
	// AcquireLease takes or renews name for holder until ttl from now; false
	// while another holder's lease lasts.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives name up if holder holds it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// leaseName is the lease of an order's watch.
func leaseName(outTradeNo string) string { return "watch:" + outTradeNo }

// newHolder names this process's watches: host, pid and a random part.
func newHolder() string {
	host, _ := os.Hostname()
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + rand.Text()[:8]
}

// leaseTTL outlasts the longest wait between two queries of a watch (the
// last interval plus its jitter) with room to spare, so a live holder
// renews its lease before it runs out; a dead holder's lease frees the
// order that long after its last query.
func (w *Watcher) leaseTTL() time.Duration {
	last := w.o.Intervals[len(w.o.Intervals)-1]
	return 2*last + 5*time.Second
}

// mayQuery reports whether this watch may query its order now: always
// without Leases, else while it holds (or takes, or renews) the lease. A
// ledger that cannot answer does not stop the watch: a query too many is
// better than a payment nobody sees.
func (w *Watcher) mayQuery(ctx context.Context, no string) bool {
	if w.o.Leases == nil {
		return true
	}
	ok, err := w.o.Leases.AcquireLease(ctx, leaseName(no), w.o.Holder, w.leaseTTL())
	if err != nil {
		if ctx.Err() == nil {
			w.log.LogAttrs(ctx, slog.LevelWarn, "付款关注: 账本无法确定由谁关注此订单, 仍然查询 / payment watch: the ledger cannot tell who watches this order; querying it anyway",
				slog.String("outTradeNo", no), slog.String("error", err.Error()))
		}
		return true
	}
	if !ok {
		w.log.LogAttrs(ctx, slog.LevelDebug, "付款关注: 另一个进程正在查询此订单 / payment watch: another process queries this order", slog.String("outTradeNo", no))
	}
	return ok
}

// releaseLease gives up the order's lease when its watch ends, so another
// process watching it takes over at once rather than when it runs out.
func (w *Watcher) releaseLease(no string) {
	if w.o.Leases == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 5*time.Second)
	defer cancel()
	_ = w.o.Leases.ReleaseLease(ctx, leaseName(no), w.o.Holder)
}
