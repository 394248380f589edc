package localalipay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestCashierPages(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	cl := newClient(t, srv.Credentials(), nil)
	ctx := ctxT(t)

	t.Run("desktop shows a QR code, a pay button and the local banner", func(t *testing.T) {
		link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "CP1", TotalAmount: 1999, Subject: "<script>x</script>"})
		status, page := get(t, link)
		for _, want := range []string{`<img id="qr" src="data:image/png;base64,`, `<form id="pay-form" method="post" action="/cashier/pay"`,
			`<button id="pay" type="submit">`, "本地模拟支付宝", "LOCAL Alipay", "19.99", "&lt;script&gt;"} {
			if !strings.Contains(page, want) {
				t.Errorf("desktop cashier lacks %q", want)
			}
		}
		if status != 200 || strings.Contains(page, "<script>x") {
			t.Fatalf("HTTP %d or unescaped subject", status)
		}
		// The same link again shows the same trade.
		a, err := localalipay.OpenLink(ctx, link)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := localalipay.OpenLink(ctx, link)
		if a != b {
			t.Fatalf("reopening made another trade: %s, %s", a, b)
		}
	})

	t.Run("mobile cashier without return_url lands on the local paid page", func(t *testing.T) {
		link, _ := cl.WapPayURL(alipay.PayRequest{OutTradeNo: "CP2", TotalAmount: 1, Subject: "wap", QuitURL: "http://127.0.0.1:9/quit"})
		_, page := get(t, link)
		if strings.Contains(page, `id="qr"`) || !strings.Contains(page, `id="pay"`) || !strings.Contains(page, `id="cancel"`) {
			t.Fatal("mobile cashier: want a pay button, a cancel link and no QR")
		}
		ret, err := localalipay.PayLink(ctx, link)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ret, srv.URL()+"/cashier/paid?") {
			t.Fatalf("redirect %q", ret)
		}
		_, page = get(t, ret)
		if !strings.Contains(page, `id="paid"`) || !strings.Contains(page, "TRADE_SUCCESS") {
			t.Fatalf("paid page: %s", page)
		}
		if _, err := localalipay.PayLink(ctx, link); err == nil || !strings.Contains(err.Error(), "TRADE_HAS_SUCCESS") {
			t.Fatalf("paying twice: %v", err)
		}
	})

	t.Run("same out_trade_no with another amount is refused", func(t *testing.T) {
		link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "CP3", TotalAmount: 100, Subject: "s"})
		if _, err := localalipay.OpenLink(ctx, link); err != nil {
			t.Fatal(err)
		}
		other, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "CP3", TotalAmount: 200, Subject: "s"})
		if _, err := localalipay.OpenLink(ctx, other); err == nil || !strings.Contains(err.Error(), "ACQ.CONTEXT_INCONSISTENT") {
			t.Fatalf("want ACQ.CONTEXT_INCONSISTENT, got %v", err)
		}
	})

	t.Run("a tampered link shows the signature error", func(t *testing.T) {
		link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "CP4", TotalAmount: 100, Subject: "s"})
		bad := strings.Replace(link, "total_amount%22%3A%221.00", "total_amount%22%3A%220.01", 1)
		if bad == link {
			t.Fatal("could not tamper the link")
		}
		if _, err := localalipay.OpenLink(ctx, bad); err == nil || !strings.Contains(err.Error(), "isv.invalid-signature") {
			t.Fatalf("want isv.invalid-signature, got %v", err)
		}
	})

	t.Run("the pay form needs the trade's token", func(t *testing.T) {
		link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "CP5", TotalAmount: 100, Subject: "s"})
		tradeNo, err := localalipay.OpenLink(ctx, link)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.PostForm(srv.URL()+"/cashier/pay", url.Values{"trade_no": {tradeNo}, "token": {"guess"}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "LOCAL.INVALID_PAY_TOKEN") {
			t.Fatalf("forged pay form: %s", b)
		}
		if q, _ := cl.Query(ctx, "CP5"); q == nil || q.TradeStatus != "WAIT_BUYER_PAY" {
			t.Fatalf("a forged form paid the trade: %+v", q)
		}
	})

	t.Run("quit_url is limited to 400 characters, not bytes", func(t *testing.T) {
		appKey, _ := localKeys(t, srv.Credentials())
		open := func(no, quitURL string) error {
			t.Helper()
			biz, _ := json.Marshal(map[string]string{"out_trade_no": no, "total_amount": "1.00", "subject": "s",
				"product_code": alipay.ProductWapPay, "quit_url": quitURL})
			p := signedParams(t, srv.Credentials(), appKey, alipay.MethodWapPay, string(biz), nil)
			_, err := localalipay.OpenLink(ctx, srv.Credentials().GatewayURL+"?"+form(p))
			return err
		}
		base := "http://127.0.0.1:9/"
		// 219 characters, 619 bytes: within the limit.
		if err := open("CP7", base+strings.Repeat("退", 200)); err != nil {
			t.Fatalf("a 219-character quit_url was refused: %v", err)
		}
		err := open("CP8", base+strings.Repeat("x", 401-len(base)))
		if err == nil || !strings.Contains(err.Error(), "quit_url") || !strings.Contains(err.Error(), "400") {
			t.Fatalf("a 401-character quit_url: want an error naming quit_url and 400, got %v", err)
		}
	})

	t.Run("page pay needs its product code", func(t *testing.T) {
		appKey, _ := localKeys(t, srv.Credentials())
		p := signedParams(t, srv.Credentials(), appKey, alipay.MethodPagePay, `{"out_trade_no":"CP6","total_amount":"1.00","subject":"s"}`, nil)
		if _, err := localalipay.OpenLink(ctx, srv.Credentials().GatewayURL+"?"+form(p)); err == nil || !strings.Contains(err.Error(), "ACQ.INVALID_PARAMETER") {
			t.Fatalf("want ACQ.INVALID_PARAMETER, got %v", err)
		}
	})
}

// TestExpiry uses a clock the test moves: timeout_express closes the trade
// with a TRADE_CLOSED notification.
func TestExpiry(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := startServer(t, localalipay.Options{Now: now})
	sink := newSink(t, nil)
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.NotifyURL = sink.URL; c.Now = now })
	ctx := ctxT(t)
	for _, te := range []struct{ otn, timeout string }{{"EX1", "1m"}, {"EX2", ""}} {
		r := alipay.PayRequest{OutTradeNo: te.otn, TotalAmount: 100, Subject: "expires", TimeoutExpress: te.timeout}
		if te.timeout == "" {
			r.TimeExpire = alipay.FormatTimestamp(now().Add(3 * time.Minute))
		}
		link, err := cl.PagePayURL(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := localalipay.OpenLink(ctx, link); err != nil {
			t.Fatal(err)
		}
	}
	offset.Store(int64(2 * time.Minute))
	n := sink.next(t)
	if n.Get("out_trade_no") != "EX1" || n.Get("trade_status") != "TRADE_CLOSED" {
		t.Fatalf("expiry notification: %v", n)
	}
	if q, err := cl.Query(ctx, "EX2"); err != nil || q.TradeStatus != "WAIT_BUYER_PAY" {
		t.Fatalf("EX2 closed too early: %+v %v", q, err)
	}
	offset.Store(int64(4 * time.Minute))
	if q, err := cl.Query(ctx, "EX2"); err != nil || q.TradeStatus != "TRADE_CLOSED" {
		t.Fatalf("EX2 after time_expire: %+v %v", q, err)
	}
	if n := sink.next(t); n.Get("out_trade_no") != "EX2" {
		t.Fatalf("EX2 notification: %v", n)
	}
}
