package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// bound is how long a test waits for something that must happen; a
// correctness bound, never a timing assertion.
const bound = 20 * time.Second

// everything serves every tool, closePay included.
var everything = []string{NameMobilePay, NameWebPagePay, NameQueryPay, NameRefundPay, NameRefundQuery, NameQRPay, NameClosePay, NameWaitPay}

// progressLog collects progress notifications.
type progressLog struct {
	mu   sync.Mutex
	got  []*mcp.ProgressNotificationParams
	seen chan struct{}
}

func newProgressLog() *progressLog { return &progressLog{seen: make(chan struct{}, 100)} }

func (p *progressLog) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	p.got = append(p.got, req.Params)
	p.mu.Unlock()
	select {
	case p.seen <- struct{}{}:
	default:
	}
}

func (p *progressLog) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.seen:
	case <-time.After(bound):
		t.Fatal("no progress notification")
	}
}

func (p *progressLog) all() []*mcp.ProgressNotificationParams {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*mcp.ProgressNotificationParams(nil), p.got...)
}

// callWait calls wait-alipay-payment with a progress token in a goroutine
// and returns the channel its result arrives on.
func callWait(t *testing.T, cs *mcp.ClientSession, ctx context.Context, args string) <-chan *mcp.CallToolResult {
	t.Helper()
	out := make(chan *mcp.CallToolResult, 1)
	p := &mcp.CallToolParams{Name: NameWaitPay, Arguments: json.RawMessage(args)}
	p.SetProgressToken("wait-1")
	go func() {
		res, err := cs.CallTool(ctx, p)
		if err != nil {
			res = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "protocol error: " + err.Error()}}}
		}
		out <- res
	}()
	return out
}

func result(t *testing.T, ch <-chan *mcp.CallToolResult) *mcp.CallToolResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(bound + 60*time.Second):
		t.Fatal("the wait did not answer")
		return nil
	}
}

// The whole QR story against the local Alipay: the image decodes to the
// qrCode, a wait with a progress token sends progress while the buyer has
// not paid, and paying the code makes the wait answer paid.
func TestQRPaymentAndWait(t *testing.T) {
	d, _ := localDeps(t)
	d = withWatcher(t, d)
	prog := newProgressLog()
	cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ProgressNotificationHandler: prog.handle}, "")

	res := call(t, cs, NameQRPay, `{"outTradeNo":"QR-1","totalAmount":19.99,"orderTitle":"定制插画","timeoutMinutes":30}`)
	wantOK(t, res)
	var out struct{ QRCode, ExpiresAt string }
	if err := json.Unmarshal([]byte(structured(t, res)), &out); err != nil {
		t.Fatal(err)
	}
	if got := scanQR(t, res); got != out.QRCode || !strings.Contains(out.QRCode, "/qr/") {
		t.Fatalf("the image decodes to %q; structuredContent.qrCode is %q", got, out.QRCode)
	}
	exp, err := alipay.ParseTimestamp(out.ExpiresAt)
	if err != nil || exp.Before(time.Now().Add(29*time.Minute)) || exp.After(time.Now().Add(31*time.Minute)) {
		t.Errorf("expiresAt %q (%v), want about 30 minutes from now", out.ExpiresAt, err)
	}
	wantText(t, res, out.QRCode, "QR-1", "¥19.99", NameWaitPay, "payable until")

	waitCh := callWait(t, cs, context.Background(), `{"outTradeNo":"QR-1","timeoutSeconds":55}`)
	prog.wait(t) // the wait is under way, and says so
	if _, err := localalipay.PayLink(context.Background(), out.QRCode); err != nil {
		t.Fatal(err)
	}
	w := result(t, waitCh)
	wantOK(t, w)
	var wo struct {
		Result, TradeStatus, TradeNo, PaidAt string
		TotalAmount                          float64
		PaidAfterClose                       bool
	}
	if err := json.Unmarshal([]byte(structured(t, w)), &wo); err != nil {
		t.Fatal(err)
	}
	if wo.Result != "paid" || wo.TradeStatus != alipay.TradeSuccess || wo.TotalAmount != 19.99 || wo.TradeNo == "" || wo.PaidAt == "" || wo.PaidAfterClose {
		t.Fatalf("wait answered %+v", wo)
	}
	wantText(t, w, "The buyer has paid", "¥19.99", wo.TradeNo, wo.PaidAt)
	for _, p := range prog.all() {
		if p.ProgressToken != "wait-1" || p.Total != 55 || !strings.Contains(p.Message, "waiting for the buyer") {
			t.Errorf("progress %+v", p)
		}
	}

	// Asking again for a paid order answers at once.
	again := result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"QR-1"}`))
	wantText(t, again, "The buyer has paid")
	// The same order asked again after payment is refused with the reason.
	wantError(t, call(t, cs, NameQRPay, `{"outTradeNo":"QR-1","totalAmount":19.99,"orderTitle":"定制插画"}`), "ACQ.TRADE_HAS_SUCCESS", "already paid")
}

// A wait that runs out says waiting and to call again; a cancelled wait
// ends at once; without a watcher the wait polls on its own.
func TestWaitOutcomes(t *testing.T) {
	d, _ := localDeps(t)
	t.Run("times out", func(t *testing.T) {
		cs := connect(t, Options{Deps: withWatcher(t, d)})
		start := time.Now()
		res := result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"W-1","timeoutSeconds":1}`))
		wantOK(t, res)
		wantText(t, res, "call again to keep waiting", NameWaitPay, "NOT_OPENED", "has not opened")
		if !strings.Contains(structured(t, res), `"result":"waiting"`) {
			t.Errorf("structured %s", structured(t, res))
		}
		if time.Since(start) > bound {
			t.Errorf("a 1 s wait took %s", time.Since(start))
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		// The handler itself must end with CANCELLED, soon, not only
		// the client's call: OnCall and the log are told when the
		// handler returns.
		type end struct {
			outcome string
			took    time.Duration
		}
		ended := make(chan end, 4)
		log := &syncBuf{}
		wd := withWatcher(t, d)
		cs := connect(t, Options{Deps: wd, Logger: slog.New(slog.NewJSONHandler(log, nil)),
			OnCall: func(tool, outcome string, took time.Duration) {
				if tool == NameWaitPay {
					ended <- end{outcome, took}
				}
			}})
		ctx, cancel := context.WithCancel(context.Background())
		ch := callWait(t, cs, ctx, `{"outTradeNo":"W-2","timeoutSeconds":55}`)
		// Cancel once the handler runs (it watches the order first).
		for deadline := time.Now().Add(bound); !wd.Watcher.Watching("W-2"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the wait never started")
			}
		}
		cancel()
		select {
		case <-ch:
		case <-time.After(bound):
			t.Fatal("a cancelled wait did not end")
		}
		select {
		case e := <-ended:
			if e.outcome != "tool_error" || e.took >= bound {
				t.Errorf("the cancelled wait's handler ended %q after %s; want tool_error (CANCELLED) within %s", e.outcome, e.took, bound)
			}
		case <-time.After(bound):
			t.Fatal("the cancelled wait's handler did not end within the bound")
		}
		deadline := time.Now().Add(bound)
		for !strings.Contains(log.String(), `"code":"CANCELLED"`) {
			if time.Now().After(deadline) {
				t.Fatalf("no CANCELLED tool call in the log:\n%s", log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The server is still up.
		wantOK(t, result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"W-2","timeoutSeconds":1}`)))
	})
	t.Run("no watcher: own polling", func(t *testing.T) {
		cs := connect(t, Options{Deps: d})
		link, err := d.Client.WapPayURL(alipay.PayRequest{OutTradeNo: "W-3", TotalAmount: 500, Subject: "t"})
		if err != nil {
			t.Fatal(err)
		}
		ch := callWait(t, cs, context.Background(), `{"outTradeNo":"W-3","timeoutSeconds":55}`)
		if _, err := localalipay.PayLink(context.Background(), link); err != nil {
			t.Fatal(err)
		}
		res := result(t, ch)
		wantText(t, res, "The buyer has paid", "¥5.00")
	})
	t.Run("closed", func(t *testing.T) {
		cs := connect(t, Options{Deps: withWatcher(t, d)})
		link, err := d.Client.PagePayURL(alipay.PayRequest{OutTradeNo: "W-4", TotalAmount: 500, Subject: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := localalipay.OpenLink(context.Background(), link); err != nil {
			t.Fatal(err)
		}
		ch := callWait(t, cs, context.Background(), `{"outTradeNo":"W-4","timeoutSeconds":55}`)
		if _, err := d.Client.Close(context.Background(), "W-4"); err != nil {
			t.Fatal(err)
		}
		res := result(t, ch)
		wantText(t, res, "is closed", "TRADE_CLOSED")
		if !strings.Contains(structured(t, res), `"result":"closed"`) {
			t.Errorf("structured %s", structured(t, res))
		}
	})
	t.Run("a published change wakes it", func(t *testing.T) {
		// A status pushed in from elsewhere (what a notification receiver
		// does) reaches the wait. The order is really unpaid and the
		// watcher never queries, so only the published change can make
		// the wait answer paid.
		dd := d
		dd.Local = false // its own queries only every 15 s
		dd.Watcher = paywatch.New(context.Background(), d.Client, paywatch.Options{Intervals: []time.Duration{time.Hour}})
		t.Cleanup(dd.Watcher.Close)
		prog := newProgressLog()
		cs := connectClient(t, Options{Deps: dd}, &mcp.ClientOptions{ProgressNotificationHandler: prog.handle}, "")
		ch := callWait(t, cs, context.Background(), `{"outTradeNo":"W-5","timeoutSeconds":12}`)
		prog.wait(t)
		dd.Watcher.Publish(context.Background(), paywatch.Change{OutTradeNo: "W-5", Status: paywatch.TradeSuccess,
			Trade: &alipay.TradeQuery{OutTradeNo: "W-5", TradeNo: "2026112922001400000000000005", TradeStatus: paywatch.TradeSuccess,
				TotalAmount: "3.00", SendPayDate: "2026-11-29 12:00:00"}})
		res := result(t, ch)
		wantText(t, res, "The buyer has paid", "¥3.00", "2026112922001400000000000005")
	})
}

// Closing: an opened order closes for good; an unopened link has nothing
// to close at Alipay, and the result says so and until when it stays
// payable, and the watcher closes it when the buyer opens it; a paid order
// cannot be closed; closing twice is fine.
func TestClosePayment(t *testing.T) {
	d, _ := localDeps(t)
	d = withWatcher(t, d)
	cs := connect(t, Options{Deps: d, Tools: everything})
	link := func(t *testing.T, no string) string {
		t.Helper()
		res := call(t, cs, NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":9.90,"orderTitle":"t"}`)
		wantOK(t, res)
		var out struct{ URL string }
		json.Unmarshal([]byte(structured(t, res)), &out)
		return out.URL
	}

	t.Run("opened", func(t *testing.T) {
		u := link(t, "C-1")
		if _, err := localalipay.OpenLink(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		res := call(t, cs, NameClosePay, `{"outTradeNo":"C-1"}`)
		wantOK(t, res)
		if structured(t, res) != `{"closed":true,"tradeStatus":"TRADE_CLOSED"}` {
			t.Errorf("structured %s", structured(t, res))
		}
		if _, err := localalipay.PayLink(context.Background(), u); !errors.Is(err, localalipay.ErrCashier) {
			t.Fatalf("paying a closed order: %v", err)
		}
		again := call(t, cs, NameClosePay, `{"outTradeNo":"C-1"}`)
		wantOK(t, again)
		wantText(t, again, "already closed")
	})
	t.Run("never opened", func(t *testing.T) {
		u := link(t, "C-2")
		res := call(t, cs, NameClosePay, `{"outTradeNo":"C-2"}`)
		wantOK(t, res)
		var out struct {
			Closed       bool
			TradeStatus  string
			PayableUntil string
		}
		json.Unmarshal([]byte(structured(t, res)), &out)
		until, err := alipay.ParseTimestamp(out.PayableUntil)
		if out.Closed || out.TradeStatus != paywatch.NotOpened || err != nil || until.Before(time.Now().Add(DefaultPayTimeout-time.Minute)) {
			t.Fatalf("closing an unopened link answered %+v", out)
		}
		wantText(t, res, "ACQ.TRADE_NOT_EXIST", "nothing was closed", "can still be paid until "+out.PayableUntil, "as soon as the buyer opens the link")
		if _, ok := d.Watcher.ClosedAt("C-2"); !ok || !d.Watcher.Watching("C-2") {
			t.Fatal("the close is not remembered and watched")
		}
		// The buyer opens the link after the close: the watcher closes
		// the trade, and a wait says closed.
		if _, err := localalipay.OpenLink(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		w := result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"C-2","timeoutSeconds":55}`))
		wantText(t, w, "is closed")
		if _, err := localalipay.PayLink(context.Background(), u); !errors.Is(err, localalipay.ErrCashier) {
			t.Fatalf("paying the closed order: %v", err)
		}
	})
	t.Run("paid", func(t *testing.T) {
		u := link(t, "C-3")
		if _, err := localalipay.PayLink(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		wantError(t, call(t, cs, NameClosePay, `{"outTradeNo":"C-3"}`), "cannot be closed", "refund-alipay-payment", "¥9.90", "nothing was changed")
	})
	t.Run("made elsewhere, never opened", func(t *testing.T) {
		res := call(t, cs, NameClosePay, `{"outTradeNo":"C-4"}`)
		wantOK(t, res)
		wantText(t, res, "not made by this server", "up to 15 days")
	})
}

// A payment that gets through after a close (the watcher could not close in
// time) is reported as an alert with a suggested refund.
func TestPaidAfterCloseAlert(t *testing.T) {
	d, _ := localDeps(t)
	// A Querier that is not a Closer: the watcher cannot close the trade.
	d.Watcher = paywatch.New(context.Background(), struct{ paywatch.Querier }{d.Client}, paywatch.Options{Intervals: []time.Duration{20 * time.Millisecond}})
	t.Cleanup(d.Watcher.Close)
	cs := connect(t, Options{Deps: d, Tools: everything})
	res := call(t, cs, NameMobilePay, `{"outTradeNo":"PAC-1","totalAmount":1.00,"orderTitle":"t"}`)
	var out struct{ URL string }
	json.Unmarshal([]byte(structured(t, res)), &out)
	wantOK(t, call(t, cs, NameClosePay, `{"outTradeNo":"PAC-1"}`))
	if _, err := localalipay.PayLink(context.Background(), out.URL); err != nil {
		t.Fatal(err)
	}
	w := result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"PAC-1","timeoutSeconds":55}`))
	wantText(t, w, "ALERT", "was closed at", "refund-alipay-payment")
	if !strings.Contains(structured(t, w), `"paidAfterClose":true`) {
		t.Errorf("structured %s", structured(t, w))
	}
	// A query of the order says so too, and so does its resource.
	wantText(t, call(t, cs, NameQueryPay, `{"outTradeNo":"PAC-1"}`), "TRADE_SUCCESS", "ALERT", "refund-alipay-payment")
	if st, raw := readStatus(t, cs, "PAC-1"); !st.PaidAfterClose || !strings.Contains(raw, `"paidAfterClose":true`) {
		t.Errorf("resource %s", raw)
	}
}

// Bad input to the new tools is a tool error naming the field, and the
// server keeps serving.
func TestNewToolsBadInput(t *testing.T) {
	d, _ := localDeps(t)
	cs := connect(t, Options{Deps: d, Tools: everything})
	for _, tc := range []struct{ tool, args, want string }{
		{NameWaitPay, `{"outTradeNo":"X","timeoutSeconds":0}`, "timeoutSeconds: 超出范围 / 0 is out of range"},
		{NameWaitPay, `{"outTradeNo":"X","timeoutSeconds":56}`, "timeoutSeconds: 超出范围 / 56 is out of range"},
		{NameWaitPay, `{"outTradeNo":"X","timeoutSeconds":4.5}`, "must be a whole number, got 4.5"},
		{NameWaitPay, `{"outTradeNo":"X","timeoutSeconds":"45"}`, "timeoutSeconds: 必须是数字"},
		{NameWaitPay, `{"outTradeNo":"X","timeout":45}`, "unknown property"},
		{NameWaitPay, `{}`, "outTradeNo: 必填参数缺失 / required"},
		{NameQRPay, `{"outTradeNo":"X","totalAmount":1,"orderTitle":"t","timeoutMinutes":21601}`, "timeoutMinutes: 超出范围 / 21601 is out of range"},
		{NameQRPay, `{"outTradeNo":"X","totalAmount":0.001,"orderTitle":"t"}`, "totalAmount:"},
		{NameQRPay, `{"outTradeNo":"X","totalAmount":1,"orderTitle":"t","notifyUrl":"x"}`, `"notifyUrl": 不支持的参数`},
		{NameClosePay, `{"outTradeNo":"订单"}`, "outTradeNo:"},
		{NameClosePay, `{"outTradeNo":"X","reason":"y"}`, `"reason": 不支持的参数`},
	} {
		t.Run(tc.tool+tc.args, func(t *testing.T) {
			wantError(t, call(t, cs, tc.tool, tc.args), tc.want, "Alipay was not called")
		})
	}
	wantOK(t, result(t, callWait(t, cs, context.Background(), `{"outTradeNo":"X","timeoutSeconds":1}`)))
}

// Read-only mode serves exactly the tools annotated read-only and refuses
// the others by name; "all" leaves closePay out unless it is named.
func TestReadOnlyAndSelection(t *testing.T) {
	d, _ := localDeps(t)
	names := func(cs *mcp.ClientSession) string {
		lt, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, tl := range lt.Tools {
			n = append(n, tl.Name)
			if !tl.Annotations.ReadOnlyHint && strings.Contains(cs.InitializeResult().Instructions, "AP_READ_ONLY") {
				t.Errorf("read-only mode lists %s, which is not read-only", tl.Name)
			}
		}
		return strings.Join(n, ",")
	}
	ro := connect(t, Options{Deps: d, ReadOnly: true, Tools: everything})
	if got, want := names(ro), NameQueryPay+","+NameRefundQuery+","+NameWaitPay; got != want {
		t.Errorf("read-only tools %s, want %s", got, want)
	}
	if !strings.Contains(ro.InitializeResult().Instructions, "Read-only mode (AP_READ_ONLY=true)") {
		t.Error("the instructions do not say read-only mode is on")
	}
	// They advise only what is served: no tool that is not, by name.
	for _, name := range []string{NameWebPagePay, NameMobilePay, NameQRPay, NameClosePay, NameRefundPay} {
		if strings.Contains(ro.InitializeResult().Instructions, name) {
			t.Errorf("read-only instructions name %s, which is not served:\n%s", name, ro.InitializeResult().Instructions)
		}
	}
	for _, name := range []string{NameRefundPay, NameWebPagePay, NameClosePay, NameQRPay} {
		wantError(t, call(t, ro, name, `{"outTradeNo":"X"}`), "AP_READ_ONLY=true", name, "nothing was done")
	}
	wantOK(t, result(t, callWait(t, ro, context.Background(), `{"outTradeNo":"X","timeoutSeconds":1}`)))

	def := connect(t, Options{Deps: d})
	if got := names(def); strings.Contains(got, NameClosePay) || !strings.Contains(got, NameQRPay) || !strings.Contains(got, NameWaitPay) {
		t.Errorf("default tools %s: want qrPay and waitPay, not closePay", got)
	}
	if got := names(connect(t, Options{Deps: d, Tools: everything})); !strings.Contains(got, NameClosePay) {
		t.Errorf("closePay named, yet not served: %s", got)
	}
	if !strings.Contains(def.InitializeResult().Instructions, "call wait-alipay-payment") {
		t.Error("the instructions do not tell the model to wait after sending a link")
	}
}

// A read-only selection of write tools only serves nothing, and nothing is
// not "all": no server is built, and no resource or watching is selected.
func TestReadOnlyNothingServed(t *testing.T) {
	d, _ := localDeps(t)
	served := Served([]string{NameRefundPay}, true)
	if served == nil || len(served) != 0 {
		t.Fatalf("Served = %#v, want an empty, non-nil list", served)
	}
	if ResourceSelected(served) {
		t.Error("no tool served, yet the order status resource (and watching) is selected")
	}
	if err := CheckServed(served, true); !errors.Is(err, ErrNothingServed) || !strings.Contains(err.Error(), "只读模式下所选工具都不是只读的 / read-only mode leaves no tool to serve") {
		t.Errorf("CheckServed: %v", err)
	}
	if _, err := NewServer(Options{Deps: d, Tools: []string{NameRefundPay}, ReadOnly: true}); !errors.Is(err, ErrNothingServed) {
		t.Errorf("NewServer with nothing to serve: %v", err)
	}
	if err := CheckServed(Served(nil, true), true); err != nil {
		t.Errorf("read-only with the default selection: %v", err)
	}
}

// syncBuf is a buffer a logger writes while a test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
