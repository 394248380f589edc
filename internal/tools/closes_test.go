package tools

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// A close of an order nobody opened is recorded in the ledger: it survives a
// restart and needs no watcher. The wait answers closed at once (not
// "waiting" forever), a new link or QR code for the order is refused, and a
// payment that still gets through is an alert.
func TestCloseUnopenedRecorded(t *testing.T) {
	d, _ := localDeps(t)
	d, acct := withLedger(t, d) // no watcher: AP_WATCH_PAYMENTS=false
	cs := connect(t, Options{Deps: d, Tools: everything})
	res := call(t, cs, NameWebPagePay, `{"outTradeNo":"CU-1","totalAmount":5,"orderTitle":"报价"}`)
	wantOK(t, res)
	link := res.StructuredContent.(map[string]any)["url"].(string)
	res = call(t, cs, NameClosePay, `{"outTradeNo":"CU-1"}`)
	wantOK(t, res)
	wantText(t, res, "nothing was closed", "recorded the close in its ledger")
	o, err := acct.Order(context.Background(), "CU-1")
	if err != nil || o.ClosedAt.IsZero() || o.PayableUntil.IsZero() {
		t.Fatalf("ledger order after the close = %+v, %v; want the close and the link's expiry", o, err)
	}

	// A restart: a new server on the same ledger, nothing in memory.
	for _, cs := range []*mcp.ClientSession{cs, connect(t, Options{Deps: withFreshBook(d), Tools: everything})} {
		start := time.Now()
		w := result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"CU-1","timeoutSeconds":55}`))
		wantOK(t, w)
		wantText(t, w, "Closed by you at", "Do not resend")
		if s := structured(t, w); !strings.Contains(s, `"result":"closed"`) || !strings.Contains(s, `"reason":"closed_by_merchant"`) || !strings.Contains(s, `"closedAt":"`) {
			t.Errorf("wait on a closed unopened order: %s", s)
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("the wait took %s: it should answer at once", time.Since(start))
		}
		for _, tool := range []string{NameWebPagePay, NameMobilePay, NameQRPay} {
			wantError(t, call(t, cs, tool, `{"outTradeNo":"CU-1","totalAmount":5,"orderTitle":"报价"}`),
				"已于", "请使用新的 outTradeNo", "You closed this order (CU-1) at", "use a new outTradeNo")
		}
	}
	// Nobody watched: the buyer pays the old link anyway. The query says
	// it is an alert, from the ledger's record of the close.
	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	q := call(t, connect(t, Options{Deps: withFreshBook(d), Tools: everything}), NameQueryPay, `{"outTradeNo":"CU-1"}`)
	wantText(t, q, "ALERT", "refund-alipay-payment")
}

// A link that expired unopened is closed for the wait, with reason expired.
func TestWaitExpiredUnopened(t *testing.T) {
	d, _ := localDeps(t)
	d, acct := withLedger(t, d)
	// A link made earlier, payable until a minute ago.
	if _, _, err := acct.RecordOrder(context.Background(), ledger.NewOrder{OutTradeNo: "EX-1", Kind: "web", Amount: 100, Title: "t",
		PayableUntil: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	cs := connect(t, Options{Deps: withWatcher(t, d)})
	w := result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"EX-1","timeoutSeconds":55}`))
	wantOK(t, w)
	wantText(t, w, "expired at", "can no longer be paid")
	if s := structured(t, w); !strings.Contains(s, `"result":"closed"`) || !strings.Contains(s, `"reason":"expired"`) {
		t.Errorf("wait on an expired unopened order: %s", s)
	}
	// One still payable keeps waiting.
	if _, _, err := acct.RecordOrder(context.Background(), ledger.NewOrder{OutTradeNo: "EX-2", Kind: "web", Amount: 100, Title: "t",
		PayableUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	w = result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"EX-2","timeoutSeconds":1}`))
	if s := structured(t, w); !strings.Contains(s, `"result":"waiting"`) {
		t.Errorf("wait on a payable unopened order: %s", s)
	}
}

// withFreshBook is d after a restart: the same ledger and Alipay, nothing
// remembered in memory.
func withFreshBook(d Deps) Deps {
	d.expiries = nil
	d.Watcher = nil
	return d
}

// A payment heard without the trade's details (a notification through the
// ledger) is answered "paid" only once a query gives the amount and trade
// number: while the query fails, the wait goes on. A send_pay_date that is
// not a timestamp stays out of paidAt.
func TestWaitPaidNeedsDetails(t *testing.T) {
	var mu sync.Mutex
	queries, healthy := 0, false
	d, _ := newDeps(t, func(method string, _ map[string]any) answer {
		mu.Lock()
		defer mu.Unlock()
		queries++
		switch {
		case queries == 1:
			return fail("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
		case !healthy:
			return fail("20000", "Service Currently Unavailable", "ACQ.SYSTEM_ERROR", "系统错误")
		}
		return ok(`"trade_no":"2026112522001400000000000009","trade_status":"TRADE_SUCCESS","total_amount":"199.00","send_pay_date":"2026-13-45 99:99:99 junk"`)
	})
	// The watcher never polls in this test: only the published change wakes the wait.
	d.Watcher = paywatch.New(context.Background(), d.Client, paywatch.Options{Intervals: []time.Duration{time.Hour}})
	t.Cleanup(d.Watcher.Close)
	cs := connect(t, Options{Deps: d})
	count := func() int { mu.Lock(); defer mu.Unlock(); return queries }
	ch := callWait(t, cs, context.Background(), `{"outTradeNo":"ND-1","timeoutSeconds":55}`)
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(bound); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitUntil("the first query", func() bool { return count() >= 1 && d.Watcher.Watching("ND-1") })
	d.Watcher.Publish(context.Background(), paywatch.Change{OutTradeNo: "ND-1", Status: "TRADE_SUCCESS"})
	waitUntil("the failed re-query", func() bool { return count() >= 2 })
	mu.Lock()
	healthy = true
	mu.Unlock()
	d.Watcher.Publish(context.Background(), paywatch.Change{OutTradeNo: "ND-1", Status: "TRADE_SUCCESS"})
	res := result(t, ch)
	wantOK(t, res)
	wantText(t, res, "The buyer has paid", "¥199.00", "2026112522001400000000000009")
	if s := structured(t, res); strings.Contains(s, "paidAt") || !strings.Contains(s, `"tradeNo":"2026112522001400000000000009"`) {
		t.Errorf("structured %s: want the trade number, and no paidAt from a bad send_pay_date", s)
	}
}
