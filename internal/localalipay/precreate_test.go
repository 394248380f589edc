package localalipay_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// TestPrecreate drives a face-to-face QR payment with the real Go client
// over real HTTP: precreate → no trade until scanned → scan and pay the
// qr_code → the payment notification → query; and the same order asked
// again, a paid order, a closed one, and an expired code.
func TestPrecreate(t *testing.T) {
	ctx := ctxT(t)
	srv := startServer(t, localalipay.Options{})
	sink := newSink(t, nil)
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.NotifyURL = sink.URL + "/notify" })

	const otn = "QR-20240101-1"
	req := alipay.PrecreateRequest{OutTradeNo: otn, TotalAmount: 1999, Subject: "定制插画", TimeoutExpress: "30m"}
	pre, err := cl.Precreate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if pre.OutTradeNo != otn || !strings.HasPrefix(pre.QRCode, srv.URL()+"/qr/") {
		t.Fatalf("precreate answered %+v; want a qr_code under %s/qr/", pre, srv.URL())
	}
	if _, err := cl.Query(ctx, otn); !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
		t.Fatalf("a QR code alone must not create the trade; got %v", err)
	}
	again, err := cl.Precreate(ctx, req)
	if err != nil || again.QRCode != pre.QRCode {
		t.Fatalf("the same order asked again: %+v, %v; want the same code %s", again, err, pre.QRCode)
	}
	if _, err := localalipay.PayLink(ctx, pre.QRCode); err != nil {
		t.Fatalf("scan and pay the QR code: %v", err)
	}
	q, err := cl.Query(ctx, otn)
	if err != nil {
		t.Fatal(err)
	}
	if q.TradeStatus != alipay.TradeSuccess || q.TotalAmount != "19.99" {
		t.Fatalf("after paying: %+v", q)
	}
	n, err := cl.VerifyNotification(sink.next(t))
	if err != nil {
		t.Fatalf("payment notification does not verify: %v", err)
	}
	if n["trade_status"] != alipay.TradeSuccess || n["out_trade_no"] != otn || n["total_amount"] != "19.99" {
		t.Errorf("notification %v", n)
	}
	if _, err := cl.Precreate(ctx, req); !alipay.IsSubCode(err, "ACQ.TRADE_HAS_SUCCESS") {
		t.Errorf("precreate of a paid order: want ACQ.TRADE_HAS_SUCCESS, got %v", err)
	}

	t.Run("closed after scanning", func(t *testing.T) {
		const otn = "QR-20240101-2"
		pre, err := cl.Precreate(ctx, alipay.PrecreateRequest{OutTradeNo: otn, TotalAmount: 100, Subject: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := localalipay.OpenLink(ctx, pre.QRCode); err != nil {
			t.Fatalf("scan: %v", err)
		}
		if _, err := cl.Close(ctx, otn); err != nil {
			t.Fatalf("close a scanned, unpaid order: %v", err)
		}
		if _, err := localalipay.PayLink(ctx, pre.QRCode); !errors.Is(err, localalipay.ErrCashier) || !strings.Contains(err.Error(), "ACQ.TRADE_HAS_CLOSE") {
			t.Fatalf("paying a closed order's QR code: want ACQ.TRADE_HAS_CLOSE, got %v", err)
		}
	})

	t.Run("closed before scanning", func(t *testing.T) {
		const otn = "QR-20240101-3"
		if _, err := cl.Precreate(ctx, alipay.PrecreateRequest{OutTradeNo: otn, TotalAmount: 100, Subject: "x"}); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Close(ctx, otn); !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
			t.Fatalf("close before anyone scanned: want ACQ.TRADE_NOT_EXIST (no trade yet), got %v", err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		now := time.Now()
		srv := startServer(t, localalipay.Options{Now: func() time.Time { return now }})
		cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.Now = func() time.Time { return now } })
		pre, err := cl.Precreate(ctx, alipay.PrecreateRequest{OutTradeNo: "QR-EXP", TotalAmount: 100, Subject: "x",
			TimeExpire: alipay.FormatTimestamp(now.Add(2 * time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(3 * time.Minute)
		if _, err := localalipay.PayLink(ctx, pre.QRCode); !errors.Is(err, localalipay.ErrCashier) || !strings.Contains(err.Error(), "ACQ.TRADE_HAS_CLOSE") {
			t.Fatalf("paying an expired QR code: want ACQ.TRADE_HAS_CLOSE, got %v", err)
		}
	})

	t.Run("unknown code", func(t *testing.T) {
		if _, err := localalipay.PayLink(ctx, srv.URL()+"/qr/lclnope"); !errors.Is(err, localalipay.ErrCashier) {
			t.Fatalf("an unknown code: want a cashier error, got %v", err)
		}
	})
}
