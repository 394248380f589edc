package paywatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

const (
	pauseMsg  = "every watch pauses"
	giveUpMsg = "stopped every watch"
	ownMsg    = "failed too many times in a row"
)

// drive moves the fake clock, one wake-up at a time with no query in
// flight, until done says so; it fails if that takes past limit.
func drive(t *testing.T, clk *fakeClock, w *paywatch.Watcher, limit time.Time, done func() bool) {
	t.Helper()
	for {
		clk.settle(t, w)
		if done() {
			return
		}
		if w.Len() == 0 || clk.Now().After(limit) {
			t.Fatalf("at %s with %d watches, the awaited state never came", clk.Now().Format(time.TimeOnly), w.Len())
		}
		clk.next(t)
	}
}

// logLines returns the JSON log records whose message contains msg.
func logLines(t *testing.T, log *lockedBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(log.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m, _ := rec["msg"].(string); strings.Contains(m, msg) {
			out = append(out, rec)
		}
	}
	return out
}

// pauses returns the breaker's pauses, in the order they were logged.
func pauses(t *testing.T, log *lockedBuffer) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, rec := range logLines(t, log, pauseMsg) {
		ns, _ := rec["pause"].(float64)
		out = append(out, time.Duration(ns))
	}
	return out
}

// checkLogClean fails when the log carries an address or a signature.
func checkLogClean(t *testing.T, log *lockedBuffer) {
	t.Helper()
	for _, bad := range []string{"gateway.do", "127.0.0.1", "http://", "sign="} {
		if strings.Contains(log.String(), bad) {
			t.Errorf("the log carries %q:\n%s", bad, log.String())
		}
	}
}

// Each wait is spread by ±20%, placed by Options.Rand; by default watches
// started together wait differently.
func TestJitter(t *testing.T) {
	tests := []struct {
		name   string
		rand   func() float64
		want   time.Duration // 0: any wait in [8s, 12s]
		orders int
	}{
		{"lowest", func() float64 { return 0 }, 8 * s, 1},
		{"middle", noJitter, 10 * s, 1},
		{"three quarters", func() float64 { return 0.75 }, 11 * s, 1},
		{"math/rand", nil, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLocal(t)
			clk := newFakeClock()
			w := paywatch.New(context.Background(), l.client, paywatch.Options{Clock: clk, Rand: tt.rand, Intervals: []time.Duration{10 * s}})
			t.Cleanup(w.Close)
			for i := range tt.orders {
				w.Watch(fmt.Sprintf("PW-J-%03d", i))
			}
			clk.waitSleepers(t, tt.orders)
			waits := clk.sleeps()
			for _, d := range waits {
				if d < 8*s || d > 12*s {
					t.Errorf("wait %s outside 10s ± 20%%", d)
				}
				if tt.want != 0 && (d-tt.want).Abs() > time.Microsecond {
					t.Errorf("wait %s, want %s", d, tt.want)
				}
			}
			if slices.Sort(waits); len(slices.Compact(waits)) < tt.orders*9/10 {
				t.Errorf("%d orders waited only %d different times", tt.orders, len(waits))
			}
		})
	}
}

// 100 orders watched for 30 minutes against a gateway that only answers
// HTTP 502: the breaker bounds the requests and gives up, stopping every
// watch. Without it: 100 watches × ~65 queries × 3 attempts ≈ 19,500.
func TestBreakerBoundsRequests(t *testing.T) {
	const watches = 100
	l := startLocal(t)
	c, requests := l.gatewayClient(t)
	q := &counting{Querier: c}
	var log lockedBuffer
	w, clk, rec := newWatcher(t, q, paywatch.Options{Deadline: 30 * time.Minute, Rand: seededRand(1),
		Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err := l.srv.SetFaults(localalipay.Faults{HTTP502Rate: 1}); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	var dones []<-chan struct{}
	for i := range watches {
		dones = append(dones, w.Watch(fmt.Sprintf("PW-DOWN-%03d", i)))
	}
	drive(t, clk, w, start.Add(30*time.Minute), func() bool { return w.Len() == 0 })
	for _, d := range dones {
		waitDone(t, d)
	}

	// Queries go one at a time here, so exactly: 5 failures open the
	// breaker, then one probe after each pause; the 6th failed probe gives
	// up. 5 + 6 = 11 requests. (With queries in flight at once, those
	// admitted before the breaker opens add at most watches-1 more.)
	const bound = paywatch.DefaultBreakerThreshold + paywatch.DefaultBreakerGiveUp
	if got := requests.Load(); got != bound {
		t.Errorf("%d gateway requests, want %d", got, bound)
	}
	if q.count() != int(requests.Load()) {
		t.Errorf("%d queries made %d gateway requests; want one attempt each", q.count(), requests.Load())
	}
	wantPauses := []time.Duration{30 * s, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if got := pauses(t, &log); !slices.Equal(got, wantPauses) {
		t.Errorf("pauses %v, want %v", got, wantPauses)
	}
	var sum time.Duration
	for _, p := range wantPauses {
		sum += p
	}
	if took := clk.Now().Sub(start); took < sum || took >= 30*time.Minute {
		t.Errorf("gave up after %s; want after the pauses (%s) and before the deadline", took, sum)
	}
	gaveUp := logLines(t, &log, giveUpMsg)
	if len(gaveUp) != 1 || gaveUp[0]["stopped"] != float64(watches) || gaveUp[0]["http_status"] != float64(502) {
		t.Errorf("give-up lines %v, want one naming %d watches and HTTP 502", gaveUp, watches)
	}
	checkLogClean(t, &log)
	rec.none(t)

	// The breaker starts afresh: an order watched afterwards is queried
	// after its first wait.
	l.srv.ClearFaults()
	before := requests.Load()
	w.Watch("PW-AFTER")
	clk.next(t)
	if c := rec.next(t); c.OutTradeNo != "PW-AFTER" || c.Status != paywatch.NotOpened {
		t.Errorf("change %+v, want PW-AFTER NOT_OPENED", c)
	}
	if got := requests.Load() - before; got != 1 {
		t.Errorf("%d requests for the new watch's first query, want 1", got)
	}
	w.Close()
	noWatchGoroutines(t)
}

// When Alipay comes back while the breaker pauses, the next probe closes it
// and every watch goes on: the paid order is reported.
func TestBreakerResumes(t *testing.T) {
	l := startLocal(t)
	c, requests := l.gatewayClient(t)
	var log lockedBuffer
	w, clk, rec := newWatcher(t, c, paywatch.Options{Rand: seededRand(2), Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err := l.srv.SetFaults(localalipay.Faults{HTTP502Rate: 1}); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	paid, link := l.link(t, 2500)
	done := w.Watch(paid)
	for i := range 9 {
		w.Watch(fmt.Sprintf("PW-OTHER-%d", i))
	}
	// Down: the breaker opens, a probe fails, the pause doubles.
	drive(t, clk, w, start.Add(30*time.Minute), func() bool { return len(pauses(t, &log)) == 2 })
	if got, want := requests.Load(), int64(paywatch.DefaultBreakerThreshold+1); got != want {
		t.Errorf("%d gateway requests before the second pause, want %d", got, want)
	}
	rec.none(t)

	l.srv.ClearFaults()
	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	drive(t, clk, w, start.Add(30*time.Minute), func() bool { return !w.Watching(paid) })
	waitDone(t, done)
	var got paywatch.Change
	for range 10 {
		if c := rec.next(t); c.OutTradeNo == paid {
			got = c
			break
		}
	}
	if got.Status != paywatch.TradeSuccess || !got.Final || got.Trade.TotalAmount != "25.00" {
		t.Errorf("paid order: change %+v, want a final TRADE_SUCCESS of 25.00", got)
	}
	if w.Len() != 9 {
		t.Errorf("%d orders watched, want the other 9 still", w.Len())
	}
	if p := pauses(t, &log); len(p) != 2 {
		t.Errorf("pauses %v after Alipay came back, want the 2 before", p)
	}
	if n := len(logLines(t, &log, giveUpMsg)) + len(logLines(t, &log, ownMsg)); n != 0 {
		t.Errorf("%d watches given up on", n)
	}
	checkLogClean(t, &log)
}

// One watch stops after MaxFailures failed queries of its own, in one log
// line naming the order and the codes; the breaker may pause it meanwhile.
func TestWatchMaxFailures(t *testing.T) {
	tests := []struct {
		name        string
		maxFailures int
		want        int
		pauses      []time.Duration
	}{
		{"own limit first", 3, 3, nil},
		{"defaults", 0, paywatch.DefaultMaxFailures, []time.Duration{30 * s, time.Minute, 2 * time.Minute, 4 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLocal(t)
			c, requests := l.gatewayClient(t)
			var log lockedBuffer
			w, clk, rec := newWatcher(t, c, paywatch.Options{MaxFailures: tt.maxFailures, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
			if err := l.srv.SetFaults(localalipay.Faults{HTTP502Rate: 1}); err != nil {
				t.Fatal(err)
			}
			start := clk.Now()
			done := w.Watch("PW-FAILING")
			drive(t, clk, w, start.Add(30*time.Minute), func() bool { return w.Len() == 0 })
			waitDone(t, done)
			if got := requests.Load(); got != int64(tt.want) {
				t.Errorf("%d gateway requests, want %d", got, tt.want)
			}
			if got := pauses(t, &log); !slices.Equal(got, tt.pauses) {
				t.Errorf("pauses %v, want %v", got, tt.pauses)
			}
			lines := logLines(t, &log, ownMsg)
			if len(lines) != 1 || lines[0]["outTradeNo"] != "PW-FAILING" || lines[0]["failures"] != float64(tt.want) || lines[0]["http_status"] != float64(502) {
				t.Errorf("stop lines %v, want one naming the order, %d failures and HTTP 502", lines, tt.want)
			}
			checkLogClean(t, &log)
			rec.none(t)
		})
	}
}
