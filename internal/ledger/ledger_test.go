package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

const app = "2021000000000001"

func TestRecordOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		l := open(t, b.fresh(t))
		a := l.Account(app, "sandbox")
		n := NewOrder{OutTradeNo: "T1", Kind: "web", Amount: 19999, Title: "插画定制", Who: "claude-ai",
			Audit: &Entry{Who: "claude-ai", Action: "create-web-page-alipay-payment", Amount: 19999, Result: "ok"}}
		o, created, err := a.RecordOrder(ctx, n)
		if err != nil || !created || o.Amount != 19999 || o.Status != StatusNotOpened {
			t.Fatalf("first RecordOrder = %+v, %t, %v", o, created, err)
		}
		if _, created, err := a.RecordOrder(ctx, n); err != nil || created {
			t.Fatalf("the same link again = created %t, %v; want fine, not created", created, err)
		}
		for _, bad := range []NewOrder{
			{OutTradeNo: "T1", Kind: "web", Amount: 20000, Title: n.Title},
			{OutTradeNo: "T1", Kind: "web", Amount: n.Amount, Title: "another"},
		} {
			_, _, err := a.RecordOrder(ctx, bad)
			var oe *OrderError
			if !errors.Is(err, ErrOrderConflict) || !errors.As(err, &oe) || oe.Existing.Amount != 19999 {
				t.Errorf("RecordOrder(%+v) = %v; want ErrOrderConflict naming the recorded order", bad, err)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("a refusal is reported as the ledger failing: %v", err)
			}
		}
		log, err := a.AuditLog(ctx, time.Time{}, 0)
		if err != nil || len(log) != 1 || log[0].OutTradeNo != "T1" || log[0].Action != "create-web-page-alipay-payment" {
			t.Fatalf("audit written with the new order (and only then) = %+v, %v", log, err)
		}
		// Another environment is another book.
		if _, created, err := l.Account(app, "prod").RecordOrder(ctx, NewOrder{OutTradeNo: "T1", Kind: "web", Amount: 1, Title: "x"}); err != nil || !created {
			t.Fatalf("same outTradeNo in prod = %t, %v; want a new order", created, err)
		}
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "T1", Status: alipay.TradeSuccess, TradeNo: "2026", Source: SourceWatch}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.RecordOrder(ctx, n); !errors.Is(err, ErrOrderFinal) {
			t.Fatalf("link for a paid order = %v; want ErrOrderFinal", err)
		}
		got, err := a.Order(ctx, "T1")
		if err != nil || got.CreatedBy != "claude-ai" || got.Title != "插画定制" || got.TradeNo != "2026" || got.PaidAt.IsZero() {
			t.Fatalf("Order = %+v, %v", got, err)
		}
		if _, err := a.Order(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Order(nope) = %v; want ErrNotFound", err)
		}
	})
}

func TestStatusNeverMovesBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		a := open(t, b.fresh(t)).Account(app, "local")
		steps := []struct {
			status, source string
			changed        bool
		}{
			{alipay.TradeWaitBuyerPay, SourceWatch, true},
			{alipay.TradeWaitBuyerPay, SourceQuery, false},
			{alipay.TradeSuccess, SourceNotification, true},
			{alipay.TradeWaitBuyerPay, SourceQuery, false}, // a stale answer
			{alipay.TradeClosed, SourceQuery, true},        // fully refunded
		}
		for _, s := range steps {
			changed, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "Q1", Status: s.status, Amount: 500, Source: s.source, Who: "w"})
			if err != nil || changed != s.changed {
				t.Fatalf("RecordStatus(%s from %s) = %t, %v; want %t", s.status, s.source, changed, err, s.changed)
			}
		}
		o, err := a.Order(ctx, "Q1")
		if err != nil || o.Kind != KindExternal || o.Amount != 500 || o.Status != alipay.TradeClosed {
			t.Fatalf("order seen only by queries = %+v, %v", o, err)
		}
		h, err := a.History(ctx, "Q1")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range h {
			got = append(got, c.Status+"/"+c.Source)
		}
		want := "WAIT_BUYER_PAY/watch TRADE_SUCCESS/notification TRADE_CLOSED/query"
		if strings.Join(got, " ") != want {
			t.Fatalf("history = %v; want %s", got, want)
		}
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "Q1", Status: "BOGUS"}); err == nil {
			t.Fatal("an unknown status was recorded")
		}
	})
}

func TestPaidEventQueuedOnceWhicheverSourceFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		l := open(t, b.fresh(t))
		a := l.Account(app, "prod")
		if _, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: "P1", Kind: "mobile", Amount: 1999, Title: "t"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, src := range []string{SourceWatch, SourceQuery, SourceNotification, SourceWatch} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "P1", Status: alipay.TradeSuccess, TradeNo: "T", Source: src}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		evs, err := l.ClaimEvents(ctx, "s1", 10, time.Minute)
		if err != nil || len(evs) != 1 {
			t.Fatalf("ClaimEvents = %d events, %v; want exactly 1", len(evs), err)
		}
		var p PaidEvent
		if err := json.Unmarshal(evs[0].Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.EventID != PaidEventID(app, "prod", "P1") || evs[0].EventID != p.EventID || p.Amount != "19.99" || p.Type != "order.paid" {
			t.Fatalf("paid event = %+v", p)
		}
		h, _ := a.History(ctx, "P1")
		if len(h) != 1 || h[0].Source != p.Source {
			t.Fatalf("history %+v; the event's source %q must be the first to see the payment", h, p.Source)
		}
	})
}

func TestOutboxClaimAckFail(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		c := newClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
		o := b.fresh(t)
		o.Now = c.Now
		l := open(t, o)
		a := l.Account(app, "prod")
		for _, no := range []string{"E1", "E2"} {
			if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: no, Status: alipay.TradeSuccess, Amount: 100, Source: SourceQuery}); err != nil {
				t.Fatal(err)
			}
		}
		first, err := l.ClaimEvents(ctx, "sender-a", 10, 30*time.Second)
		if err != nil || len(first) != 2 || first[0].Attempts != 1 {
			t.Fatalf("first claim = %+v, %v", first, err)
		}
		if again, _ := l.ClaimEvents(ctx, "sender-b", 10, 30*time.Second); len(again) != 0 {
			t.Fatalf("leased events handed out twice: %+v", again)
		}
		if err := l.AckEvent(ctx, first[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := l.FailEvent(ctx, first[1].ID, "sender-a", c.Now().Add(10*time.Second), "HTTP 502"); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.ClaimEvents(ctx, "sender-b", 10, 30*time.Second); len(got) != 0 {
			t.Fatalf("a failed event came back before its retry time: %+v", got)
		}
		c.Add(10 * time.Second)
		retry, err := l.ClaimEvents(ctx, "sender-b", 10, 30*time.Second)
		if err != nil || len(retry) != 1 || retry[0].EventID != first[1].EventID || retry[0].Attempts != 2 {
			t.Fatalf("retry claim = %+v, %v", retry, err)
		}
		// sender-b dies holding the lease: after it expires the event is handed out again.
		c.Add(31 * time.Second)
		again, err := l.ClaimEvents(ctx, "sender-c", 10, 30*time.Second)
		if err != nil || len(again) != 1 || again[0].EventID != first[1].EventID {
			t.Fatalf("claim after an expired lease = %+v, %v", again, err)
		}
		if n, _ := l.PendingEvents(ctx); n != 1 {
			t.Fatalf("pending = %d, want 1", n)
		}
		// sender-b, whose lease ran out, reports late: sender-c keeps the lease.
		if err := l.FailEvent(ctx, again[0].ID, "sender-b", c.Now(), "late"); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.ClaimEvents(ctx, "sender-e", 10, 30*time.Second); len(got) != 0 {
			t.Fatalf("a stale sender's failure report freed the current holder's lease: %+v", got)
		}
		if err := l.FailEvent(ctx, again[0].ID, "sender-c", c.Now(), "HTTP 503"); err != nil {
			t.Fatal(err)
		}
		// A late failure report never undoes a delivery.
		if err := l.FailEvent(ctx, first[0].ID, "sender-a", c.Now(), "late"); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Hour)
		if got, _ := l.ClaimEvents(ctx, "sender-d", 10, 30*time.Second); len(got) != 1 || got[0].EventID != first[1].EventID {
			t.Fatalf("after a late failure report of a delivered event: %+v", got)
		}
	})
}

func TestRefundLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		l := open(t, b.fresh(t))
		a := l.Account(app, "sandbox")
		if _, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: "R1", Kind: "web", Amount: 10000, Title: "t"}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "R1", Status: alipay.TradeSuccess, Source: SourceQuery}); err != nil {
			t.Fatal(err)
		}
		req := RefundRequest{OutTradeNo: "R1", OutRequestNo: "r-1", Amount: 6000, Reason: "部分退款", Who: "cursor"}
		r, existing, err := a.ReserveRefund(ctx, req)
		if err != nil || existing || r.State != RefundReserved {
			t.Fatalf("ReserveRefund = %+v, %t, %v", r, existing, err)
		}
		for _, s := range []string{RefundAsked, RefundAccepted, RefundSent} {
			if err := a.Step(ctx, "R1", "r-1", s, "human", ""); err != nil {
				t.Fatal(err)
			}
		}
		un, err := a.Unsettled(ctx)
		if err != nil || len(un) != 1 || un[0].OutRequestNo != "r-1" || !un[0].Unsettled() {
			t.Fatalf("Unsettled after sent = %+v, %v", un, err)
		}
		if err := a.Settle(ctx, "R1", "r-1", OutcomeSucceeded, true, "REFUND_SUCCESS"); err != nil {
			t.Fatal(err)
		}
		if err := a.Settle(ctx, "R1", "r-1", OutcomeSucceeded, false, ""); err != nil { // a retry's answer
			t.Fatal(err)
		}
		o, _ := a.Order(ctx, "R1")
		if o.Refunded != 6000 {
			t.Fatalf("refunded so far = %s; want 60.00 counted once", o.Refunded)
		}
		if got, _ := a.Refunded(ctx, "R1"); got != 6000 {
			t.Fatalf("Refunded = %s", got)
		}
		got, err := a.Refund(ctx, "R1", "r-1")
		if err != nil || !got.ConfirmedByQuery || got.Outcome != OutcomeSucceeded || got.SentAt.IsZero() || got.Unsettled() {
			t.Fatalf("Refund = %+v, %v", got, err)
		}
		steps, _ := a.Steps(ctx, "R1", "r-1")
		var names []string
		for _, s := range steps {
			names = append(names, s.Step)
		}
		if want := "reserved asked accepted sent succeeded (query) succeeded"; strings.Join(names, " ") != want {
			t.Fatalf("steps = %v; want %s", names, want)
		}
		// Same outRequestNo again: the recorded refund, not a second one.
		if r, existing, err := a.ReserveRefund(ctx, req); err != nil || !existing || r.Outcome != OutcomeSucceeded {
			t.Fatalf("retry ReserveRefund = %+v, %t, %v", r, existing, err)
		}
		req.Amount = 1
		if _, _, err := a.ReserveRefund(ctx, req); !errors.Is(err, ErrRefundMismatch) {
			t.Fatalf("same outRequestNo, another amount = %v", err)
		}
		// Over-refund: 100.00 - 60.00 leaves 40.00.
		_, _, err = a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "R1", OutRequestNo: "r-2", Amount: 4001})
		var le *LimitError
		if !errors.Is(err, ErrOverRefund) || !errors.As(err, &le) || le.Remaining != 4000 || !strings.Contains(err.Error(), "40.00") {
			t.Fatalf("over-refund = %v; want ErrOverRefund with 40.00 remaining", err)
		}
		if _, _, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "R1", OutRequestNo: "r-2", Amount: 4000}); err != nil {
			t.Fatalf("refund of exactly what remains = %v", err)
		}
		// A declined refund is final and never sent.
		if err := a.Step(ctx, "R1", "r-2", RefundDeclined, "human", ""); err != nil {
			t.Fatal(err)
		}
		if r, _ := a.Refund(ctx, "R1", "r-2"); r.State != RefundDeclined || r.Unsettled() {
			t.Fatalf("declined refund = %+v", r)
		}
		// Asked for again, it is checked and counted anew.
		if r, existing, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "R1", OutRequestNo: "r-2", Amount: 4000, DailyLimit: 3000}); !errors.Is(err, ErrDailyLimit) {
			t.Fatalf("a declined refund asked again over the daily limit = %+v, %t, %v", r, existing, err)
		}
		if r, existing, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "R1", OutRequestNo: "r-2", Amount: 4000}); err != nil || !existing || r.State != RefundReserved {
			t.Fatalf("a declined refund asked again = %+v, %t, %v", r, existing, err)
		}
	})
}

func TestDailyLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		// 23:30 in Beijing is 15:30 UTC.
		c := newClock(time.Date(2026, 11, 29, 15, 30, 0, 0, time.UTC))
		o := b.fresh(t)
		o.Now = c.Now
		a := open(t, o).Account(app, "prod")
		const limit = 10000
		reserve := func(no string, amount alipay.Amount) error {
			_, _, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "D", OutRequestNo: no, Amount: amount, DailyLimit: limit})
			return err
		}
		if err := reserve("d1", 6000); err != nil {
			t.Fatal(err)
		}
		err := reserve("d2", 5000)
		var le *LimitError
		if !errors.Is(err, ErrDailyLimit) || !errors.As(err, &le) || le.Remaining != 4000 || le.Used != 6000 {
			t.Fatalf("over the daily limit = %v; want ErrDailyLimit, 40.00 remaining", err)
		}
		// A refused refund (declined, or failed at Alipay) gives its share back.
		if err := a.Step(ctx, "D", "d1", RefundCancelled, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := reserve("d2", 5000); err != nil {
			t.Fatalf("after the first was cancelled: %v", err)
		}
		if err := a.Step(ctx, "D", "d2", RefundSent, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := a.Settle(ctx, "D", "d2", OutcomeFailed, false, "ACQ.TRADE_NOT_ALLOW_REFUND"); err != nil {
			t.Fatal(err)
		}
		if err := reserve("d3", 10000); err != nil {
			t.Fatalf("after the second failed: %v", err)
		}
		if err := reserve("d4", 1); !errors.Is(err, ErrDailyLimit) {
			t.Fatalf("limit reached: %v", err)
		}
		c.Add(31 * time.Minute) // 00:01 the next day in Beijing
		if err := reserve("d4", 10000); err != nil {
			t.Fatalf("the next Beijing day: %v", err)
		}
	})
}

// TestDailyLimitConcurrent races refunds from two ledger handles on one
// database (each its own pool of connections, as two processes would have):
// exactly limit/amount of them may pass.
func TestDailyLimitConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		handles := []*Account{open(t, o).Account(app, "prod"), open(t, o).Account(app, "prod")}
		var mu sync.Mutex
		passed, refused := 0, 0
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := handles[i%2].ReserveRefund(ctx, RefundRequest{OutTradeNo: fmt.Sprintf("C%d", i%3),
					OutRequestNo: fmt.Sprintf("c-%d", i), Amount: 1000, DailyLimit: 10000})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					passed++
				case errors.Is(err, ErrDailyLimit):
					refused++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if passed != 10 || refused != 20 {
			t.Fatalf("passed %d, refused %d; want exactly 10 under a limit of 100.00", passed, refused)
		}
	})
}

func TestNotificationsDedupe(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		a := open(t, b.fresh(t)).Account(app, "prod")
		n := Notification{NotifyID: "n-1", OutTradeNo: "N1", Params: map[string]string{"trade_status": "TRADE_SUCCESS", "sign": "abc"}, Verified: true}
		if dup, err := a.RecordNotification(ctx, n); err != nil || dup {
			t.Fatalf("first = %t, %v", dup, err)
		}
		if dup, err := a.RecordNotification(ctx, n); err != nil || !dup {
			t.Fatalf("again = %t, %v; want duplicate", dup, err)
		}
		bad := Notification{OutTradeNo: "N1", Params: map[string]string{"x": "y"}, VerifyError: "signature"}
		for range 2 { // no notify_id: nothing to dedupe on, both kept
			if dup, err := a.RecordNotification(ctx, bad); err != nil || dup {
				t.Fatalf("unverified = %t, %v", dup, err)
			}
		}
		got, err := a.Notifications(ctx, "N1")
		if err != nil || len(got) != 3 || got[0].Params["trade_status"] != "TRADE_SUCCESS" || !got[0].Verified || got[1].Verified {
			t.Fatalf("Notifications = %+v, %v", got, err)
		}
	})
}

func TestAuditIsAppendOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		l := open(t, b.fresh(t))
		a := l.Account(app, "prod")
		if err := a.Audit(ctx, Entry{Who: "claude-ai", Action: "refund-alipay-payment", OutTradeNo: "A1", OutRequestNo: "a-1", Amount: 5000, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
		log, err := a.AuditLog(ctx, time.Time{}, 0)
		if err != nil || len(log) != 1 || log[0].Who != "claude-ai" || log[0].Amount != 5000 || log[0].At.IsZero() {
			t.Fatalf("AuditLog = %+v, %v", log, err)
		}
		for _, q := range []string{"UPDATE ap_audit SET result = 'x'", "DELETE FROM ap_audit"} {
			if _, err := l.db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s = %v; want refused as append-only", q, err)
			}
		}
	})
}

func TestLeases(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		c := newClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
		o := b.fresh(t)
		o.Now = c.Now
		a := open(t, o).Account(app, "prod")
		try := func(holder string, want bool) {
			t.Helper()
			got, err := a.AcquireLease(ctx, "order:L1", holder, 10*time.Second)
			if err != nil || got != want {
				t.Fatalf("AcquireLease(%s) = %t, %v; want %t", holder, got, err, want)
			}
		}
		try("replica-1", true)
		try("replica-2", false)
		c.Add(9 * time.Second)
		try("replica-1", true) // renewed until 19 s
		c.Add(9 * time.Second)
		try("replica-2", false)
		c.Add(2 * time.Second)
		try("replica-2", true) // replica-1 stopped renewing
		if err := a.ReleaseLease(ctx, "order:L1", "replica-1"); err != nil {
			t.Fatal(err)
		}
		try("replica-1", false) // not its lease to release
		if err := a.ReleaseLease(ctx, "order:L1", "replica-2"); err != nil {
			t.Fatal(err)
		}
		try("replica-1", true)
	})
}

func TestListOrders(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		c := newClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		o := b.fresh(t)
		o.Now = c.Now
		a := open(t, o).Account(app, "prod")
		for i := range 7 {
			no := fmt.Sprintf("L%d", i)
			if _, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: no, Kind: "web", Amount: alipay.Amount(100 * (i + 1)), Title: "t"}); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: no, Status: alipay.TradeSuccess, Source: SourceWatch}); err != nil {
					t.Fatal(err)
				}
			}
			// L4, L5 and L6 share a creation time, and a page of two ends
			// between L5 and L4: the cursor's tie-break (by id) must
			// neither skip nor repeat.
			if i < 4 {
				c.Add(time.Hour)
			}
		}
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			p, err := a.ListOrders(ctx, Filter{Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range p.Orders {
				seen = append(seen, o.OutTradeNo)
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if want := "L6 L5 L4 L3 L2 L1 L0"; strings.Join(seen, " ") != want {
			t.Fatalf("pages = %v; want %s", seen, want)
		}
		start := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
		p, err := a.ListOrders(ctx, Filter{Statuses: []string{alipay.TradeSuccess}, Since: start, Until: start.Add(3 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range p.Orders {
			got = append(got, o.OutTradeNo)
		}
		if want := "L6 L4 L2"; strings.Join(got, " ") != want { // L6 was made at 04:00 with L4
			t.Fatalf("paid between 02:00 and 05:00 = %v; want %s", got, want)
		}
		if _, err := a.ListOrders(ctx, Filter{Cursor: "garbage"}); !errors.Is(err, ErrCursor) {
			t.Fatalf("bad cursor = %v", err)
		}
		un, err := a.Unfinished(ctx, start)
		if err != nil || len(un) != 2 || un[0].OutTradeNo != "L3" || un[1].OutTradeNo != "L5" {
			t.Fatalf("Unfinished = %+v, %v; want L3 L5 (L6 is paid)", un, err)
		}
	})
}

// TestEvents: a status change made through one handle reaches a subscriber
// of another on PostgreSQL (another process, in production), and the same
// handle's subscribers on SQLite.
func TestEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		sub := open(t, o)
		pub := sub
		if b.name == "postgres" {
			pub = open(t, o)
		}
		ch, err := sub.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a := pub.Account(app, "prod")
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "V1", Status: alipay.TradeSuccess, Amount: 100, Source: SourceWatch}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "V1", OutRequestNo: "v", Amount: 100}); err != nil {
			t.Fatal(err)
		}
		if err := a.Step(ctx, "V1", "v", RefundSent, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := a.Settle(ctx, "V1", "v", OutcomeSucceeded, false, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "V2", Status: alipay.TradeClosed, Source: SourceQuery}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(got) < 3 {
			select {
			case e := <-ch:
				got = append(got, string(e.Kind)+":"+e.OutTradeNo+":"+e.AppID+":"+e.Env)
			case <-time.After(15 * time.Second): // a bound for a loaded machine; delivery takes milliseconds
				t.Fatalf("events so far %v; the rest did not arrive within 15 s", got)
			}
		}
		if want := "paid:V1:" + app + ":prod refunded:V1:" + app + ":prod closed:V2:" + app + ":prod"; strings.Join(got, " ") != want {
			t.Fatalf("events = %v; want %s", got, want)
		}
	})
}

// TestPendingRefundLifetime: a refund reserved or asked and never sent stops
// counting against the daily limit PendingRefundLifetime after its last
// step; asked for again, it is checked and counted anew. A refund sent
// (outcome unknown) never gives its share back, whatever step follows.
func TestPendingRefundLifetime(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		c := newClock(time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)) // 10:00 in Beijing
		o := b.fresh(t)
		o.Now = c.Now
		a := open(t, o).Account(app, "prod")
		const limit = 10000
		reserve := func(no string, amount alipay.Amount) (bool, error) {
			_, existing, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "P", OutRequestNo: no, Amount: amount, DailyLimit: limit})
			return existing, err
		}
		if _, err := reserve("p1", 6000); err != nil {
			t.Fatal(err)
		}
		c.Add(5 * time.Minute)
		if err := a.Step(ctx, "P", "p1", RefundAsked, "", ""); err != nil {
			t.Fatal(err)
		}
		c.Add(PendingRefundLifetime - time.Minute) // still within the lifetime of the question
		if _, err := reserve("p2", 5000); !errors.Is(err, ErrDailyLimit) {
			t.Fatalf("an asked refund within its lifetime = %v; want ErrDailyLimit", err)
		}
		c.Add(2 * time.Minute)
		if _, err := reserve("p2", 5000); err != nil {
			t.Fatalf("after the question was abandoned: %v", err)
		}
		// p1 asked for again is counted anew, and now passes the limit.
		if existing, err := reserve("p1", 6000); !errors.Is(err, ErrDailyLimit) {
			t.Fatalf("the abandoned refund again = existing %v, %v; want ErrDailyLimit", existing, err)
		}
		// p2 sent, outcome unknown: a later cancellation does not give its share back.
		if err := a.Step(ctx, "P", "p2", RefundSent, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := a.Step(ctx, "P", "p2", RefundCancelled, "", "OUT_OF_TIME"); err != nil {
			t.Fatal(err)
		}
		c.Add(2 * PendingRefundLifetime)
		if _, err := reserve("p3", 5001); !errors.Is(err, ErrDailyLimit) {
			t.Fatalf("a sent refund's share = %v; want still counted (ErrDailyLimit)", err)
		}
		r, err := a.Refund(ctx, "P", "p2")
		if err != nil || r.State != RefundSent {
			t.Fatalf("p2 = %+v, %v; want still sent", r, err)
		}
	})
}

// A refund settled before its order reached the ledger still counts in the
// order's refunded total once the order is recorded.
func TestRefundBeforeOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		a := open(t, b.fresh(t)).Account(app, "prod")
		if _, _, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "E1", OutRequestNo: "e1-a", Amount: 500, Total: 2000}); err != nil {
			t.Fatal(err)
		}
		if err := a.Step(ctx, "E1", "e1-a", RefundSent, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := a.Settle(ctx, "E1", "e1-a", OutcomeSucceeded, false, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "E1", Status: "TRADE_SUCCESS", Amount: 2000, Source: SourceQuery}); err != nil {
			t.Fatal(err)
		}
		o, err := a.Order(ctx, "E1")
		if err != nil || o.Refunded != 500 {
			t.Fatalf("order = %+v, %v; want 5.00 refunded", o, err)
		}
		p, err := a.ListOrders(ctx, Filter{})
		if err != nil || len(p.Orders) != 1 || p.Orders[0].Refunded != 500 {
			t.Fatalf("listed = %+v, %v; want one order with 5.00 refunded", p, err)
		}
	})
}

// TestRecordStatusConcurrentFirst races first statuses of orders the ledger
// does not know yet, from two handles: every write succeeds, each order is
// recorded once, paid.
func TestRecordStatusConcurrentFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		handles := []*Account{open(t, o).Account(app, "prod"), open(t, o).Account(app, "prod")}
		statuses := []string{"WAIT_BUYER_PAY", "TRADE_SUCCESS"}
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := handles[i%2].RecordStatus(ctx, StatusSeen{OutTradeNo: fmt.Sprintf("F%d", i%4),
					Status: statuses[(i/4)%2], Amount: 100, Source: SourceNotification})
				if err != nil {
					t.Errorf("write %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		p, err := handles[0].ListOrders(ctx, Filter{})
		if err != nil || len(p.Orders) != 4 {
			t.Fatalf("orders = %+v, %v; want 4", p.Orders, err)
		}
		for _, o := range p.Orders {
			if o.Status != "TRADE_SUCCESS" {
				t.Errorf("%s: status %s; want TRADE_SUCCESS", o.OutTradeNo, o.Status)
			}
		}
	})
}

// A SQLite path holding '#', '?', '%' and a space opens that very file, with
// the pragmas of the DSN applied.
func TestSQLiteOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b%20c")
	path := filepath.Join(dir, "led#ger?x=1%41.db")
	l := open(t, Options{Path: path})
	ctx := ctxT(t)
	if _, err := l.Account(app, "prod").RecordStatus(ctx, StatusSeen{OutTradeNo: "O1", Status: "WAIT_BUYER_PAY", Source: SourceQuery}); err != nil {
		t.Fatal(err)
	}
	var mode string
	var timeout int
	if err := l.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := l.db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout != 10000 {
		t.Fatalf("busy_timeout = %d, %v; want 10000", timeout, err)
	}
	var temp int // statement journals of group commit's savepoints: 2 is MEMORY
	if err := l.db.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp); err != nil || temp != 2 {
		t.Fatalf("temp_store = %d, %v; want 2 (memory)", temp, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) == 0 || names[0] != "led#ger?x=1%41.db" {
		t.Fatalf("files in %s: %q; want the ledger under its own name", dir, names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "led#ger?x=1%41.db") {
			t.Errorf("stray file %q", n)
		}
	}
}

// Rejected notifications (possibly forged) are kept as clipped summaries,
// and only the newest MaxRejected per account.
func TestRejectedNotificationsBounded(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		l := open(t, b.fresh(t))
		a := l.Account(app, "prod")
		big := strings.Repeat("伪", 20000) // 60 KB
		params := map[string]string{"out_trade_no": "F-1", "sign": big, "notify_id": "n1"}
		for i := range 40 {
			params[fmt.Sprintf("k%02d", i)] = big
		}
		if _, err := a.RecordNotification(ctx, Notification{OutTradeNo: "F-1", Params: params, VerifyError: big}); err != nil {
			t.Fatal(err)
		}
		var raw, verr string
		if err := l.db.QueryRowContext(ctx, `SELECT params, verify_error FROM ap_notifications`).Scan(&raw, &verr); err != nil {
			t.Fatal(err)
		}
		if len(raw) > 1024 || len(verr) > 200 || !strings.Contains(raw, `"_dropped"`) || !strings.Contains(raw, "F-1") {
			t.Fatalf("stored %d bytes of params (%.80s…), %d of error; want a summary of at most 1 KiB", len(raw), raw, len(verr))
		}
		for i := range MaxRejected + 40 {
			if _, err := a.RecordNotification(ctx, Notification{OutTradeNo: fmt.Sprintf("F-%d", i), Params: map[string]string{"a": "b"}, VerifyError: "bad sign"}); err != nil {
				t.Fatal(err)
			}
		}
		// A verified one is never pruned.
		if _, err := a.RecordNotification(ctx, Notification{NotifyID: "ok-1", OutTradeNo: "F-1", Params: params, Verified: true}); err != nil {
			t.Fatal(err)
		}
		var rejected, verified int
		l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_notifications WHERE verified = 0`).Scan(&rejected)
		l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_notifications WHERE verified = 1`).Scan(&verified)
		if rejected < MaxRejected || rejected > MaxRejected+16 || verified != 1 {
			t.Fatalf("kept %d rejected, %d verified; want about %d rejected and the verified one", rejected, verified, MaxRejected)
		}
	})
}

// Prune deletes expired leases and outbox events delivered long ago, and
// nothing else.
func TestPrune(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		c := newClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
		o := b.fresh(t)
		o.Now = c.Now
		l := open(t, o)
		a := l.Account(app, "prod")
		for _, lease := range []struct {
			name string
			ttl  time.Duration
		}{{"refund-answer:old", time.Minute}, {"order:live", time.Hour}} {
			if ok, err := a.AcquireLease(ctx, lease.name, "h", lease.ttl); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		for _, no := range []string{"P1", "P2", "P3"} {
			if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: no, Status: alipay.TradeSuccess, Amount: 100, Source: SourceQuery}); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := l.ClaimEvents(ctx, "s", 10, time.Minute)
		if err != nil || len(evs) != 3 {
			t.Fatal(evs, err)
		}
		l.AckEvent(ctx, evs[0].ID)
		c.Add(40 * 24 * time.Hour)
		l.AckEvent(ctx, evs[1].ID) // delivered recently; evs[2] never delivered
		c.Add(time.Hour)
		n, err := l.Prune(ctx, 30*24*time.Hour)
		if err != nil || n != 3 {
			t.Fatalf("Prune = %d, %v; want 3 rows (two expired leases, one old delivery)", n, err)
		}
		var leases, outbox int
		l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_leases`).Scan(&leases)
		l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_outbox`).Scan(&outbox)
		if leases != 0 || outbox != 2 {
			t.Fatalf("left %d leases, %d outbox rows; want 0 and 2", leases, outbox)
		}
		if n, _ := l.PendingEvents(ctx); n != 1 {
			t.Fatalf("pending = %d; the undelivered event must stay", n)
		}
	})
}

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, hidden string }{
		{"postgres://u:pw-1@h/db", "pw-1"},
		{"postgres://u@h/db?password=pw-2", "pw-2"},
		{"postgres://u@h/db?sslmode=verify-full&sslpassword=pw-3", "pw-3"},
	} {
		if got := redactURL(c.in); strings.Contains(got, c.hidden) || !strings.Contains(got, "xxxxx") {
			t.Errorf("redactURL(%q) = %q", c.in, got)
		}
	}
}

// The permission advice names the variable that chose the file.
func TestSQLitePermissionAdvice(t *testing.T) {
	for _, v := range []string{"AP_DATABASE_URL", "XDG_DATA_HOME"} {
		err := sqliteOpenError("/x/ledger.db", v, os.ErrPermission)
		msg := err.Error()
		other := "XDG_DATA_HOME"
		if v == other {
			other = "AP_DATABASE_URL"
		}
		if !strings.Contains(msg, v) || strings.Contains(msg, other) {
			t.Errorf("advice for a file chosen by %s: %s", v, msg)
		}
	}
}
