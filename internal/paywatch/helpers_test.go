package paywatch_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// bound is how long a test waits for something that must happen; it is a
// correctness bound, never a timing assertion.
const bound = 20 * time.Second

// fakeClock is a paywatch.Clock whose time moves only when the test says.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []*sleeper
	changed  chan struct{} // closed and replaced whenever sleepers change
	slept    []time.Duration
}

type sleeper struct {
	until time.Time
	wake  chan struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	s := &sleeper{until: c.now.Add(d), wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.slept = append(c.slept, d)
	c.signal()
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		for i, x := range c.sleepers {
			if x == s {
				c.sleepers = append(c.sleepers[:i], c.sleepers[i+1:]...)
				break
			}
		}
		c.signal()
		c.mu.Unlock()
		return ctx.Err()
	}
}

// signal tells waitSleepers that sleepers changed; c.mu is held.
func (c *fakeClock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitSleepers blocks until n goroutines are asleep on the clock.
func (c *fakeClock) waitSleepers(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(bound)
	for {
		c.mu.Lock()
		got, ch := len(c.sleepers), c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%d sleepers, want %d", got, n)
		}
	}
}

// next waits for one sleeper, moves time to when the earliest wakes, and
// wakes it.
func (c *fakeClock) next(t *testing.T) {
	t.Helper()
	c.waitSleepers(t, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	earliest := c.sleepers[0]
	for _, s := range c.sleepers {
		if s.until.Before(earliest.until) {
			earliest = s
		}
	}
	c.now = earliest.until
	kept := c.sleepers[:0]
	for _, s := range c.sleepers {
		if s.until.After(c.now) {
			kept = append(kept, s)
		} else {
			close(s.wake)
		}
	}
	c.sleepers = kept
	c.signal()
}

// sleeps returns the durations slept so far.
func (c *fakeClock) sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// local is a local Alipay and a real client of it.
type local struct {
	srv    *localalipay.Server
	client *alipay.Client
}

func startLocal(t *testing.T) *local {
	t.Helper()
	s, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &local{srv: s, client: l1Client(t, s.Credentials())}
}

// link creates a desktop payment link for a new order and returns both.
func (l *local) link(t *testing.T, amount alipay.Amount) (no, link string) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	no = "PW-" + hex.EncodeToString(b)
	link, err := l.client.PagePayURL(alipay.PayRequest{OutTradeNo: no, TotalAmount: amount, Subject: "paywatch test"})
	if err != nil {
		t.Fatal(err)
	}
	return no, link
}

// counting passes queries through to the real client and counts them.
type counting struct {
	paywatch.Querier
	mu sync.Mutex
	n  int
}

func (c *counting) Query(ctx context.Context, no string) (*alipay.TradeQuery, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Querier.Query(ctx, no)
}

func (c *counting) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// recorder collects the changes a Watcher reports.
type recorder chan paywatch.Change

func (r recorder) listen(_ context.Context, c paywatch.Change) { r <- c }

// next returns the next change, failing after the bound.
func (r recorder) next(t *testing.T) paywatch.Change {
	t.Helper()
	select {
	case c := <-r:
		return c
	case <-time.After(bound):
		t.Fatal("no change reported")
	}
	return paywatch.Change{}
}

// none checks that no change is waiting.
func (r recorder) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-r:
		t.Fatalf("unexpected change %+v", c)
	default:
	}
}

// waitDone waits for a watch to end.
func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatal("the watch did not end")
	}
}

// settle waits until every watch of w is asleep on the clock or has ended:
// then no query is in flight and the clock may move.
func (c *fakeClock) settle(t *testing.T, w *paywatch.Watcher) {
	t.Helper()
	timeout := time.After(bound)
	for {
		// Between the two reads sleepers can only grow and watches only
		// shrink, so equality means all were asleep when Len was read.
		c.mu.Lock()
		asleep, ch := len(c.sleepers), c.changed
		c.mu.Unlock()
		if asleep == w.Len() {
			return
		}
		select {
		case <-ch:
		case <-time.After(time.Millisecond): // an ending watch does not signal
		case <-timeout:
			t.Fatalf("%d watches, %d asleep", w.Len(), asleep)
		}
	}
}

// noJitter is an Options.Rand that puts every wait in the middle of its
// spread: the exact interval.
func noJitter() float64 { return 0.5 }

// seededRand is a reproducible Options.Rand, safe for the watch goroutines.
func seededRand(seed uint64) func() float64 {
	var mu sync.Mutex
	r := mrand.New(mrand.NewPCG(seed, seed))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}

// gatewayClient is a client of the local Alipay, one attempt per call,
// through a proxy that counts the requests reaching the gateway.
func (l *local) gatewayClient(t *testing.T) (*alipay.Client, *atomic.Int64) {
	t.Helper()
	target, err := url.Parse(l.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gateway.do" {
			n.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)
	cr := l.srv.Credentials()
	cr.GatewayURL = ps.URL + "/gateway.do"
	return l1Client(t, cr), &n
}

// l1Client is a client of cr making one attempt per call, as the server
// gives the watcher.
func l1Client(t *testing.T, cr localalipay.Credentials) *alipay.Client {
	t.Helper()
	cfg, err := cr.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxAttempts = 1
	c, err := alipay.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
