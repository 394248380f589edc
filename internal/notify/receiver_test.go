package notify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/notify"
)

const notifyPath = "/alipay/notify"

// counts records Options.Count.
type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) add(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r]++
}

func (c *counts) get(r string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[r]
}

// receiver is a Receiver served over real HTTP on loopback, with its
// ledger (a SQLite file) and its log.
type receiver struct {
	url    string
	ledger *ledger.Ledger
	acct   *ledger.Account
	path   string
	counts *counts
	log    *bytes.Buffer
	logMu  *sync.Mutex
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// front is a loopback HTTP server whose handler is set once known, so that
// the local Alipay can be given its URL before the receiver is made.
type front struct {
	url string
	h   atomic.Pointer[http.Handler]
}

func newFront(t *testing.T) *front {
	t.Helper()
	f := &front{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := f.h.Load()
		if h == nil {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func startReceiver(t *testing.T, appID string, key *rsa.PublicKey, opts ...func(*notify.Options)) *receiver {
	t.Helper()
	return startReceiverAt(t, newFront(t), appID, key, opts...)
}

func startReceiverAt(t *testing.T, f *front, appID string, key *rsa.PublicKey, opts ...func(*notify.Options)) *receiver {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(ctx, ledger.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r := &receiver{ledger: l, acct: l.Account(appID, "local"), path: path, counts: &counts{}, log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	o := notify.Options{Store: r.acct, AppID: appID, AlipayKey: key, Count: r.counts.add,
		Logger: slog.New(slog.NewTextHandler(syncWriter{r.logMu, r.log}, nil))}
	for _, f := range opts {
		f(&o)
	}
	h, err := notify.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(notifyPath, h)
	var hh http.Handler = mux
	f.h.Store(&hh)
	r.url = f.url + notifyPath
	return r
}

func (r *receiver) logText() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.log.String()
}

func (r *receiver) order(t *testing.T, no string) ledger.Order {
	t.Helper()
	o, err := r.acct.Order(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (r *receiver) newOrder(t *testing.T, no string, amount alipay.Amount) {
	t.Helper()
	if _, _, err := r.acct.RecordOrder(context.Background(), ledger.NewOrder{OutTradeNo: no, Kind: "web", Amount: amount, Title: "测试"}); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v still not: %s", bound, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// localAlipay starts the project's local Alipay with a fast retry schedule
// and a client of it whose notify_url is notifyURL.
func localAlipay(t *testing.T, notifyURL string) (*localalipay.Server, *alipay.Client) {
	t.Helper()
	srv, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: t.TempDir(),
		NotifySchedule: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond,
			50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg, err := srv.Credentials().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NotifyURL = notifyURL
	c, err := alipay.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func alipayKey(t *testing.T, srv *localalipay.Server) *rsa.PublicKey {
	t.Helper()
	k, err := alipay.ParsePublicKey("local", srv.Credentials().AlipayPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pay makes a page-pay link for an order the ledger holds and pays it as
// the buyer, in the local cashier.
func pay(t *testing.T, c *alipay.Client, no string, amount alipay.Amount) {
	t.Helper()
	link, err := c.PagePayURL(alipay.PayRequest{OutTradeNo: no, TotalAmount: amount, Subject: "测试"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
}

// TestLocalAlipayNotificationPaysTheOrder: the local Alipay's real, signed
// notification reaches the receiver over HTTP, which verifies it, records
// it, answers success, marks the order paid with source "notification",
// queues the paid webhook event and publishes the paid event.
func TestLocalAlipayNotificationPaysTheOrder(t *testing.T) {
	ctx := context.Background()
	// The receiver needs the local Alipay's key and app id, the local
	// Alipay needs the receiver's URL: start the Alipay first with a
	// placeholder and point the client at the receiver.
	f := newFront(t)
	srv, client := localAlipay(t, f.url+notifyPath)
	rc := startReceiverAt(t, f, srv.Credentials().AppID, alipayKey(t, srv))

	events, err := rc.ledger.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc.newOrder(t, "N-paid-1", 8888)
	pay(t, client, "N-paid-1", 8888)

	var ev ledger.Event
	select {
	case ev = <-events:
	case <-time.After(10 * time.Second):
		t.Fatal("no ledger event within 10s of the payment")
	}
	if ev.Kind != ledger.EventPaid || ev.OutTradeNo != "N-paid-1" || ev.Source != ledger.SourceNotification {
		t.Fatalf("event = %+v, want paid N-paid-1 from notification", ev)
	}
	o := rc.order(t, "N-paid-1")
	if o.Status != alipay.TradeSuccess || o.TradeNo == "" {
		t.Fatalf("order = %+v, want TRADE_SUCCESS with a trade_no", o)
	}
	hist, err := rc.acct.History(ctx, "N-paid-1")
	if err != nil || len(hist) != 1 || hist[0].Source != ledger.SourceNotification {
		t.Fatalf("history = %+v, %v; want one change from the notification", hist, err)
	}
	if n, err := rc.ledger.PendingEvents(ctx); err != nil || n != 1 {
		t.Fatalf("outbox = %d, %v; want the one paid event", n, err)
	}
	ns, err := rc.acct.Notifications(ctx, "N-paid-1")
	if err != nil || len(ns) != 1 || !ns[0].Verified || ns[0].NotifyID == "" || ns[0].Params["sign"] == "" {
		t.Fatalf("recorded notifications = %+v, %v; want one verified with its raw params", ns, err)
	}
	// The local Alipay heard exactly "success" and stops.
	waitFor(t, "the local Alipay records the notification delivered", 10*time.Second, func() bool {
		d, err := srv.Trade(ctx, "N-paid-1")
		return err == nil && len(d.Notifications) == 1 && d.Notifications[0].State == "delivered"
	})
	if rc.counts.get(notify.Verified) != 1 || rc.counts.get(notify.Rejected) != 0 {
		t.Fatalf("counts = %v", rc.counts.n)
	}

	// Alipay sends it again (same notify_id): success, nothing more.
	if err := srv.ResendNotification(ctx, ns[0].NotifyID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resent notification is answered", 10*time.Second, func() bool { return rc.counts.get(notify.Duplicate) == 1 })
	waitFor(t, "the local Alipay records the resend delivered", 10*time.Second, func() bool {
		d, err := srv.Trade(ctx, "N-paid-1")
		return err == nil && d.Notifications[0].State == "delivered" && len(d.Notifications[0].Log) == 2 && d.Notifications[0].Log[1].OK
	})
	if hist, _ := rc.acct.History(ctx, "N-paid-1"); len(hist) != 1 {
		t.Fatalf("a duplicate changed the history: %+v", hist)
	}
	if n, _ := rc.ledger.PendingEvents(ctx); n != 1 {
		t.Fatalf("a duplicate queued another paid event: %d", n)
	}

	// The merchant closes nothing, but a refund in full closes the trade:
	// a new notification (new notify_id) moves the order on.
	if _, err := client.Refund(ctx, alipay.RefundRequest{OutTradeNo: "N-paid-1", OutRequestNo: "R1", RefundAmount: 8888}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refund's notification is applied", 10*time.Second, func() bool {
		o, err := rc.acct.Order(ctx, "N-paid-1")
		return err == nil && o.Status == alipay.TradeClosed
	})
}

// handSigned is a notification signed by the test's own "Alipay" key, as
// the real Alipay signs (notes §7.3), for the cases the local Alipay never
// sends.
type handSigned struct {
	key   *rsa.PrivateKey
	appID string
}

func newHandSigned(t *testing.T) *handSigned {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &handSigned{key: k, appID: "2021000000000001"}
}

// params are a TRADE_SUCCESS notification of no for amount.
func (h *handSigned) params(no, notifyID, amount string) map[string]string {
	return map[string]string{
		"notify_time": "2026-11-29 12:00:10", "notify_type": "trade_status_sync", "notify_id": notifyID,
		"app_id": h.appID, "auth_app_id": h.appID, "charset": "utf-8", "version": "1.0",
		"trade_no": "2026112922001400000000000001", "out_trade_no": no, "trade_status": alipay.TradeSuccess,
		"total_amount": amount, "receipt_amount": amount, "buyer_pay_amount": amount, "subject": "测试",
		"gmt_create": "2026-11-29 12:00:05", "gmt_payment": "2026-11-29 12:00:09", "seller_id": "2088102177000000",
		"fund_bill_list": `[{"amount":"` + amount + `","fundChannel":"ALIPAYACCOUNT"}]`, "passback_params": "a%3D1%26b%3D2",
	}
}

// sign signs p with key (the test's Alipay key unless another is given)
// and returns the form body as Alipay posts it.
func (h *handSigned) sign(t *testing.T, p map[string]string, key *rsa.PrivateKey) url.Values {
	t.Helper()
	if key == nil {
		key = h.key
	}
	v, err := alipay.SignNotification(key, alipay.RSA2, p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHandSignedNotifications: each check of notes §7.3 and §7.6, with real
// RSA signatures. Anything that fails gets "fail" and never pays the order;
// a duplicate gets "success" and changes nothing.
func TestHandSignedNotifications(t *testing.T) {
	ctx := context.Background()
	hs := newHandSigned(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const no = "N-hand-1"
	cases := []struct {
		name   string
		body   func(t *testing.T) string
		query  string // appended to the receiver's URL
		method string
		want   string // the answer
		result string // the count
		paid   bool
	}{
		{name: "signed by another key", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			return hs.sign(t, hs.params(no, "n-1", "88.88"), other).Encode()
		}},
		{name: "amount changed after signing", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			v := hs.sign(t, hs.params(no, "n-2", "0.01"), nil)
			v.Set("total_amount", "88.88")
			return v.Encode()
		}},
		{name: "no sign", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			v := hs.sign(t, hs.params(no, "n-3", "88.88"), nil)
			v.Del("sign")
			return v.Encode()
		}},
		{name: "sign with + turned into a space", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			v := hs.sign(t, hs.params(no, "n-4", "88.88"), nil)
			return strings.ReplaceAll(v.Encode(), "%2B", "+")
		}},
		{name: "wrong app_id, validly signed", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			p := hs.params(no, "n-5", "88.88")
			p["app_id"] = "2021000000000999"
			return hs.sign(t, p, nil).Encode()
		}},
		{name: "unknown order, validly signed", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			return hs.sign(t, hs.params("N-not-ours", "n-6", "88.88"), nil).Encode()
		}},
		{name: "wrong amount, validly signed", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			return hs.sign(t, hs.params(no, "n-7", "0.01"), nil).Encode()
		}},
		{name: "unknown trade_status, validly signed", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			p := hs.params(no, "n-8", "88.88")
			p["trade_status"] = "TRADE_PAID"
			return hs.sign(t, p, nil).Encode()
		}},
		{name: "a parameter given twice", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			return hs.sign(t, hs.params(no, "n-9", "88.88"), nil).Encode() + "&trade_status=TRADE_SUCCESS"
		}},
		{name: "GET", method: http.MethodGet, want: "fail", result: notify.Rejected, body: func(t *testing.T) string { return "" }},
		{name: "a forged post squatting the real notify_id", want: "fail", result: notify.Rejected, body: func(t *testing.T) string {
			return hs.sign(t, hs.params(no, "n-real", "88.88"), other).Encode()
		}},
		// The real one with that notify_id is not taken as a duplicate;
		// the query string is not part of what is verified.
		{name: "valid", query: "?trade_status=TRADE_CLOSED", want: "success", result: notify.Verified, paid: true, body: func(t *testing.T) string {
			return hs.sign(t, hs.params(no, "n-real", "88.88"), nil).Encode()
		}},
		{name: "the same notify_id again", want: "success", result: notify.Duplicate, paid: true, body: func(t *testing.T) string {
			return hs.sign(t, hs.params(no, "n-real", "88.88"), nil).Encode()
		}},
		{name: "the same state, another notify_id", want: "success", result: notify.Verified, paid: true, body: func(t *testing.T) string {
			return hs.sign(t, hs.params(no, "n-same-state", "88.88"), nil).Encode()
		}},
		{name: "another trade_no, validly signed", want: "fail", result: notify.Rejected, paid: true, body: func(t *testing.T) string {
			p := hs.params(no, "n-other-trade", "88.88")
			p["trade_no"] = "2026112922001400000000000999"
			return hs.sign(t, p, nil).Encode()
		}},
	}
	rc := startReceiver(t, hs.appID, &hs.key.PublicKey)
	rc.newOrder(t, no, 8888)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := rc.counts.get(tc.result)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, rc.url+tc.query, strings.NewReader(tc.body(t)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; text/html; charset=UTF-8")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.want {
				t.Fatalf("answer = %d %q, want %q; log:\n%s", resp.StatusCode, b, tc.want, rc.logText())
			}
			if got := rc.counts.get(tc.result); got != before+1 {
				t.Fatalf("count %s = %d, want %d", tc.result, got, before+1)
			}
			if o := rc.order(t, no); o.Paid() != tc.paid {
				t.Fatalf("order %s paid = %v, want %v", o.Status, o.Paid(), tc.paid)
			}
		})
	}
	// One status change, one paid event, whatever came after.
	hist, err := rc.acct.History(ctx, no)
	if err != nil || len(hist) != 1 || hist[0].Status != alipay.TradeSuccess || hist[0].Source != ledger.SourceNotification {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	if n, _ := rc.ledger.PendingEvents(ctx); n != 1 {
		t.Fatalf("outbox = %d, want 1", n)
	}
	// Every post is recorded with its outcome; only verified ones hold a
	// notify_id (the dedupe key).
	ns, err := rc.acct.Notifications(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	for _, n := range ns {
		if n.Verified {
			verified++
			continue
		}
		if n.NotifyID != "" || n.VerifyError == "" {
			t.Errorf("rejected notification recorded as %+v", n)
		}
	}
	if verified != 2 {
		t.Errorf("verified notifications recorded = %d, want 2 (the valid one and the same state)", verified)
	}
	if o := rc.order(t, no); o.TradeNo != "2026112922001400000000000001" {
		t.Errorf("order's trade_no = %q, want the first verified one kept", o.TradeNo)
	}
	if !strings.Contains(rc.logText(), "signature") || !strings.Contains(rc.logText(), "与账本中订单的金额") || !strings.Contains(rc.logText(), "another trade") {
		t.Errorf("the log does not say why notifications were rejected:\n%s", rc.logText())
	}
}

// TestNotRecordedIsNotAcknowledged: when the ledger cannot record the
// notification (a crash or a database failure before the write), Alipay
// is not told success, so it sends the notification again; the retry is
// recorded and pays the order once.
func TestNotRecordedIsNotAcknowledged(t *testing.T) {
	ctx := context.Background()
	f := newFront(t)
	srv, client := localAlipay(t, f.url+notifyPath)
	rc := startReceiverAt(t, f, srv.Credentials().AppID, alipayKey(t, srv))
	rc.newOrder(t, "N-crash-1", 1999)

	// The ledger's write of the notification fails, as a real database
	// fails: a trigger, set from another connection to the same file.
	db, err := sql.Open("sqlite", "file:"+rc.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER break_notifications BEFORE INSERT ON ap_notifications
		BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
		t.Fatal(err)
	}
	pay(t, client, "N-crash-1", 1999)
	waitFor(t, "the local Alipay logs a failed attempt", 10*time.Second, func() bool {
		d, err := srv.Trade(ctx, "N-crash-1")
		return err == nil && len(d.Notifications) == 1 && len(d.Notifications[0].Log) >= 1
	})
	d, _ := srv.Trade(ctx, "N-crash-1")
	if a := d.Notifications[0].Log[0]; a.OK || a.Response == "success" {
		t.Fatalf("first attempt = %+v; the receiver acknowledged what it could not record", a)
	}
	if o := rc.order(t, "N-crash-1"); o.Paid() {
		t.Fatalf("order paid although its notification was not recorded: %+v", o)
	}
	if rc.counts.get(notify.Failed) == 0 {
		t.Fatal("the failure was not counted")
	}
	if _, err := db.ExecContext(ctx, `DROP TRIGGER break_notifications`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a retry is recorded and pays the order", 10*time.Second, func() bool {
		o, err := rc.acct.Order(ctx, "N-crash-1")
		return err == nil && o.Status == alipay.TradeSuccess
	})
	waitFor(t, "the local Alipay records the notification delivered", 10*time.Second, func() bool {
		d, err := srv.Trade(ctx, "N-crash-1")
		return err == nil && d.Notifications[0].State == "delivered"
	})
	if n, _ := rc.ledger.PendingEvents(ctx); n != 1 {
		t.Fatalf("outbox = %d, want 1 paid event", n)
	}
}

// TestCutShortBetweenWrites: the notification is recorded but applying it
// to the order fails (as if the process died between the two writes).
// Alipay is not told success; its retry is a duplicate by notify_id, and
// still finishes the job: the order is paid, once.
func TestCutShortBetweenWrites(t *testing.T) {
	ctx := context.Background()
	f := newFront(t)
	srv, client := localAlipay(t, f.url+notifyPath)
	rc := startReceiverAt(t, f, srv.Credentials().AppID, alipayKey(t, srv))
	rc.newOrder(t, "N-cut-1", 500)

	db, err := sql.Open("sqlite", "file:"+rc.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER break_status BEFORE INSERT ON ap_order_status
		BEGIN SELECT RAISE(ABORT, 'power cut'); END`); err != nil {
		t.Fatal(err)
	}
	pay(t, client, "N-cut-1", 500)
	waitFor(t, "the local Alipay logs a failed attempt", 10*time.Second, func() bool {
		d, err := srv.Trade(ctx, "N-cut-1")
		return err == nil && len(d.Notifications) == 1 && len(d.Notifications[0].Log) >= 1
	})
	if d, _ := srv.Trade(ctx, "N-cut-1"); d.Notifications[0].Log[0].OK {
		t.Fatal("acknowledged a notification whose order was not updated")
	}
	ns, err := rc.acct.Notifications(ctx, "N-cut-1")
	if err != nil || len(ns) == 0 || !ns[0].Verified {
		t.Fatalf("the notification itself should be recorded: %+v, %v", ns, err)
	}
	if o := rc.order(t, "N-cut-1"); o.Paid() {
		t.Fatalf("order paid although the status write failed: %+v", o)
	}
	if _, err := db.ExecContext(ctx, `DROP TRIGGER break_status`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the retry (a duplicate) pays the order", 10*time.Second, func() bool {
		o, err := rc.acct.Order(ctx, "N-cut-1")
		return err == nil && o.Status == alipay.TradeSuccess
	})
	waitFor(t, "the local Alipay records the notification delivered", 10*time.Second, func() bool {
		d, err := srv.Trade(ctx, "N-cut-1")
		return err == nil && d.Notifications[0].State == "delivered"
	})
	if rc.counts.get(notify.Duplicate) == 0 {
		t.Error("the retry was not seen as a duplicate")
	}
	if h, _ := rc.acct.History(ctx, "N-cut-1"); len(h) != 1 {
		t.Fatalf("history %+v, want one change", h)
	}
	if n, _ := rc.ledger.PendingEvents(ctx); n != 1 {
		t.Fatalf("outbox = %d, want 1 paid event", n)
	}
}
