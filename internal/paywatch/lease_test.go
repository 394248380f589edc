package paywatch_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// leaseAttempts passes lease calls through to the ledger and counts them.
type leaseAttempts struct {
	paywatch.Leases
	n atomic.Int64
}

func (l *leaseAttempts) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	l.n.Add(1)
	return l.Leases.AcquireLease(ctx, name, holder, ttl)
}

// ledgerClock is the ledger's clock, moved by the test to run leases out.
type ledgerClock struct {
	mu  sync.Mutex
	add time.Duration
}

func (c *ledgerClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.add)
}

func (c *ledgerClock) advance(d time.Duration) {
	c.mu.Lock()
	c.add += d
	c.mu.Unlock()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v still not: %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLeasesOneProcessQueriesAnOrder: two watchers sharing one ledger (two
// replicas) watch the same order; only the lease holder queries it. When
// the holder stops, the other takes over at once; when a holder dies
// without giving the lease up, the other takes over once it runs out, and
// sees the payment.
func TestLeasesOneProcessQueriesAnOrder(t *testing.T) {
	ctx := context.Background()
	l := startLocal(t)
	clock := &ledgerClock{}
	led, err := ledger.Open(ctx, ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db"), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	acct := led.Account(l.srv.Credentials().AppID, "local")
	no, link := l.link(t, 1000)
	if _, err := localalipay.OpenLink(ctx, link); err != nil {
		t.Fatal(err)
	}

	opts := func(holder string, leases paywatch.Leases) paywatch.Options {
		return paywatch.Options{Intervals: []time.Duration{10 * time.Millisecond}, Rand: func() float64 { return 0.5 },
			Leases: leases, Holder: holder}
	}
	qa, qb := &counting{Querier: l.client}, &counting{Querier: l.client}
	wa := paywatch.New(ctx, qa, opts("replica-a", acct))
	defer wa.Close()
	lb := &leaseAttempts{Leases: acct}
	wb := paywatch.New(ctx, qb, opts("replica-b", lb))
	defer wb.Close()
	changes := make(recorder, 16)
	wb.OnChange(changes.listen)

	wa.Watch(no)
	waitUntil(t, "replica a queries", func() bool { return qa.count() >= 1 })
	wb.Watch(no)
	waitUntil(t, "replica b tries the lease 5 times", func() bool { return lb.n.Load() >= 5 })
	waitUntil(t, "replica a queries 10 times", func() bool { return qa.count() >= 10 })
	if n := qb.count(); n != 0 {
		t.Fatalf("replica b queried %d times while replica a held the lease", n)
	}

	// The holder stops: its lease is given up, the other takes over.
	wa.Close()
	waitUntil(t, "replica b queries after a stopped", func() bool { return qb.count() >= 1 })
	if c := changes.next(t); c.Status != paywatch.WaitBuyerPay {
		t.Fatalf("replica b saw %+v, want WAIT_BUYER_PAY", c)
	}

	// b dies without giving its lease up (its lease outlives it), and c
	// starts: c queries only once the lease has run out.
	wb.Close()
	if ok, err := acct.AcquireLease(ctx, "watch:"+no, "replica-b", time.Hour); err != nil || !ok {
		t.Fatalf("re-taking b's lease: %v %v", ok, err)
	}
	qc := &counting{Querier: l.client}
	lc := &leaseAttempts{Leases: acct}
	wc := paywatch.New(ctx, qc, opts("replica-c", lc))
	defer wc.Close()
	changesC := make(recorder, 16)
	wc.OnChange(changesC.listen)
	wc.Watch(no)
	waitUntil(t, "replica c tries the lease 5 times", func() bool { return lc.n.Load() >= 5 })
	if n := qc.count(); n != 0 {
		t.Fatalf("replica c queried %d times while b's lease lasted", n)
	}
	clock.advance(2 * time.Hour)
	waitUntil(t, "replica c queries once b's lease ran out", func() bool { return qc.count() >= 1 })
	if _, err := l.srv.PayTrade(ctx, no); err != nil {
		t.Fatal(err)
	}
	for {
		c := changesC.next(t)
		if c.Status == paywatch.TradeSuccess {
			break
		}
	}
}
