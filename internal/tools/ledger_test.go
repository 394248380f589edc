package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// withLedger gives d a SQLite ledger of its own, keyed by the local app.
func withLedger(t *testing.T, d Deps) (Deps, *ledger.Account) {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	a := l.Account(d.Client.AppID(), "local")
	d.Ledger = a
	return d, a
}

// payLink makes a web link for no and pays it at the local Alipay.
func payLink(t *testing.T, cs *mcp.ClientSession, no, amount, title string) {
	t.Helper()
	res := call(t, cs, NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":`+amount+`,"orderTitle":"`+title+`"}`)
	wantOK(t, res)
	var out struct{ URL string }
	if err := json.Unmarshal([]byte(structured(t, res)), &out); err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.PayLink(context.Background(), out.URL); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerRecordsLinksAndRefusesConflicts(t *testing.T) {
	d, _ := localDeps(t)
	d, acct := withLedger(t, d)
	cs := connect(t, Options{Deps: d})
	ctx := context.Background()

	payLink(t, cs, "LG-1", "199.00", "插画")
	o, err := acct.Order(ctx, "LG-1")
	if err != nil || o.Kind != "web" || o.Amount != 19900 || o.CreatedBy != "test" {
		t.Fatalf("recorded order = %+v, %v; want the link's, made by the client named test", o, err)
	}
	// Another amount or title under the same number: Alipay would fail the buyer.
	for _, args := range []string{
		`{"outTradeNo":"LG-1","totalAmount":299,"orderTitle":"插画"}`,
		`{"outTradeNo":"LG-1","totalAmount":199,"orderTitle":"另一幅"}`,
	} {
		wantError(t, call(t, cs, NameMobilePay, args), "ACQ.CONTEXT_INCONSISTENT", "¥199.00", "new outTradeNo")
	}
	// Once a query has seen it paid, no link is made for it again.
	wantOK(t, call(t, cs, NameQueryPay, `{"outTradeNo":"LG-1"}`))
	wantError(t, call(t, cs, NameWebPagePay, `{"outTradeNo":"LG-1","totalAmount":199,"orderTitle":"插画"}`), "TRADE_SUCCESS", "already")
	h, _ := acct.History(ctx, "LG-1")
	if len(h) != 1 || h[0].Status != "TRADE_SUCCESS" || h[0].Source != ledger.SourceQuery || h[0].Who != "test" {
		t.Fatalf("status history = %+v", h)
	}
	// Re-sending the same link is fine while unpaid.
	wantOK(t, call(t, cs, NameMobilePay, `{"outTradeNo":"LG-2","totalAmount":5,"orderTitle":"t"}`))
	wantOK(t, call(t, cs, NameMobilePay, `{"outTradeNo":"LG-2","totalAmount":5,"orderTitle":"t"}`))

	log, err := acct.AuditLog(ctx, o.CreatedAt.Add(-1), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.Action+":"+e.OutTradeNo+":"+strings.Fields(e.Result)[0]+":"+e.Who)
	}
	// A new link's one entry is written with its order, before the link
	// is handed out; the same link again writes its own.
	want := "create-web-page-alipay-payment:LG-1:ok:test create-mobile-alipay-payment:LG-1:refused:test create-mobile-alipay-payment:LG-1:refused:test " +
		"create-web-page-alipay-payment:LG-1:refused:test create-mobile-alipay-payment:LG-2:ok:test create-mobile-alipay-payment:LG-2:ok:test"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit log:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	for _, e := range log {
		if strings.Contains(e.Detail+e.Result, "http") {
			t.Errorf("an audit entry holds a URL: %+v", e)
		}
	}
}

func TestLedgerRefundPrecheckAndSteps(t *testing.T) {
	d, _ := localDeps(t)
	d, acct := withLedger(t, d)
	d.RefundDailyLimit = 10000 // ¥100.00 a day
	u := &asker{answer: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, legacy)
	ctx := context.Background()
	payLink(t, cs, "RF-1", "80.00", "t")

	wantOK(t, call(t, cs, NameRefundPay, `{"outTradeNo":"RF-1","refundAmount":60,"outRequestNo":"RF-1-a"}`))
	if n := len(u.asked()); n != 1 {
		t.Fatalf("%d questions, want 1", n)
	}
	steps, _ := acct.Steps(ctx, "RF-1", "RF-1-a")
	var names []string
	for _, s := range steps {
		names = append(names, s.Step)
	}
	if want := "reserved asked accepted sent succeeded"; strings.Join(names, " ") != want {
		t.Fatalf("refund steps %v, want %s", names, want)
	}
	// 80.00 - 60.00 leaves 20.00: refused before the human is asked.
	wantError(t, call(t, cs, NameRefundPay, `{"outTradeNo":"RF-1","refundAmount":20.01,"outRequestNo":"RF-1-b"}`),
		"the user was not asked", "refund API was not called", "¥20.00", "remains refundable", "RF-1-a")
	if n := len(u.asked()); n != 1 {
		t.Fatalf("the human was asked about an over-refund (%d questions)", n)
	}
	// The query shows what was refunded so far, and so do the resource and listOrders.
	wantText(t, call(t, cs, NameQueryPay, `{"outTradeNo":"RF-1"}`), "refunded so far: ¥60.00")
	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: TradeURI("RF-1")})
	if err != nil || len(rr.Contents) != 1 || !strings.Contains(rr.Contents[0].Text, `"refunded":60.00`) {
		t.Fatalf("order resource: %v %+v", err, rr)
	}
	lo := call(t, cs, NameListOrders, `{"status":"paid"}`)
	wantOK(t, lo)
	if s := structured(t, lo); !strings.Contains(s, `"outTradeNo":"RF-1"`) || !strings.Contains(s, `"refunded":60,`) || !strings.Contains(s, `"amount":80,`) {
		t.Fatalf("listOrders = %s", s)
	}

	// The daily limit: 60.00 used of 100.00 today.
	payLink(t, cs, "RF-2", "100.00", "t")
	wantError(t, call(t, cs, NameRefundPay, `{"outTradeNo":"RF-2","refundAmount":40.01,"outRequestNo":"RF-2-a"}`),
		"AP_REFUND_DAILY_LIMIT", "¥40.00", "did not call the refund API")
	if n := len(u.asked()); n != 1 {
		t.Fatalf("the human was asked about a refund over the daily limit (%d questions)", n)
	}
	wantOK(t, call(t, cs, NameRefundPay, `{"outTradeNo":"RF-2","refundAmount":40,"outRequestNo":"RF-2-b"}`))
}

// A ledger that fails mid-run: links and refunds refuse (never act
// unrecorded); queries go on.
func TestLedgerDownFailsClosed(t *testing.T) {
	d, _ := localDeps(t)
	l, err := ledger.Open(context.Background(), ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	d.Ledger = l.Account(d.Client.AppID(), "local")
	u := &asker{answer: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, legacy)
	payLink(t, cs, "DN-1", "10.00", "t")
	l.Close()

	// The link is signed before the record is tried: it must not come out.
	for _, tool := range []string{NameWebPagePay, NameMobilePay} {
		res := call(t, cs, tool, `{"outTradeNo":"DN-2","totalAmount":1,"orderTitle":"t"}`)
		wantError(t, res, "No payment was created", "ledger is unavailable")
		if res.StructuredContent != nil || strings.Contains(text(res), "gateway.do") || strings.Contains(text(res), "sign=") {
			t.Fatalf("%s handed out a link it could not record: %s", tool, text(res))
		}
	}
	wantError(t, call(t, cs, NameQRPay, `{"outTradeNo":"DN-3","totalAmount":1,"orderTitle":"t"}`), "ledger is unavailable")
	wantError(t, call(t, cs, NameRefundPay, `{"outTradeNo":"DN-1","refundAmount":1,"outRequestNo":"DN-1-a"}`), "refund API was not called", "ledger is unavailable")
	if n := len(u.asked()); n != 0 {
		t.Fatalf("the human was asked about a refund that could not be recorded")
	}
	wantText(t, call(t, cs, NameQueryPay, `{"outTradeNo":"DN-1"}`), "TRADE_SUCCESS")
	wantError(t, call(t, cs, NameListOrders, `{}`), "Could not read the orders")
}

// A refund refused after its reservation without being sent (here: no way
// to ask under AP_REFUND_CONFIRM=always) is recorded as cancelled with its
// code and gives its share of the daily limit back.
func TestLedgerRefusedRefundGivesShareBack(t *testing.T) {
	d, _ := localDeps(t)
	d, acct := withLedger(t, d)
	d.RefundDailyLimit = 10000 // ¥100.00 a day
	d.Confirm = ConfirmAlways
	cs := connect(t, Options{Deps: d})
	ctx := context.Background()
	payLink(t, cs, "RS-1", "100.00", "t")
	for i, no := range []string{"RS-1-a", "RS-1-b"} {
		wantError(t, call(t, cs, NameRefundPay, `{"outTradeNo":"RS-1","refundAmount":60,"outRequestNo":"`+no+`"}`),
			"AP_REFUND_CONFIRM=always")
		r, err := acct.Refund(ctx, "RS-1", no)
		if err != nil || r.State != ledger.RefundCancelled {
			t.Fatalf("refusal %d: refund = %+v, %v; want cancelled (its share given back)", i, r, err)
		}
		steps, _ := acct.Steps(ctx, "RS-1", no)
		if last := steps[len(steps)-1]; last.Step != ledger.RefundCancelled || last.Detail != "CONFIRMATION_UNAVAILABLE" {
			t.Fatalf("last step = %+v; want cancelled with the code", last)
		}
	}
}

// list-alipay-orders pages through every order with nextCursor, newest
// first, none skipped or repeated; a cursor it did not give is refused.
func TestListOrdersPaging(t *testing.T) {
	d, _ := localDeps(t)
	d, acct := withLedger(t, d)
	cs := connect(t, Options{Deps: d})
	ctx := context.Background()
	const n = 11
	for i := range n {
		if _, _, err := acct.RecordOrder(ctx, ledger.NewOrder{OutTradeNo: fmt.Sprintf("PG-%02d", i), Kind: "web", Amount: 100, Title: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	cursor, pages := "", 0
	for {
		args := `{"limit":4}`
		if cursor != "" {
			args = `{"limit":4,"cursor":"` + cursor + `"}`
		}
		res := call(t, cs, NameListOrders, args)
		wantOK(t, res)
		var out struct {
			Orders     []struct{ OutTradeNo string }
			NextCursor string
		}
		if err := json.Unmarshal([]byte(structured(t, res)), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Orders) > 4 {
			t.Fatalf("page of %d orders, limit 4", len(out.Orders))
		}
		for _, o := range out.Orders {
			seen = append(seen, o.OutTradeNo)
		}
		pages++
		if out.NextCursor == "" {
			break
		}
		if pages > n {
			t.Fatal("paging does not end")
		}
		cursor = out.NextCursor
	}
	var want []string
	for i := n - 1; i >= 0; i-- {
		want = append(want, fmt.Sprintf("PG-%02d", i))
	}
	if strings.Join(seen, " ") != strings.Join(want, " ") || pages != 3 {
		t.Fatalf("%d pages: %v; want 3 pages of %v", pages, seen, want)
	}
	wantError(t, call(t, cs, NameListOrders, `{"cursor":"not-a-cursor"}`), "cursor")
}
