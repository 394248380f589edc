package localalipay_test

import (
	"errors"
	"strings"
	"sync/atomic"
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
		// The notifier reads the clock too: the offset is atomic.
		var offset atomic.Int64
		now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		srv := startServer(t, localalipay.Options{Now: now})
		cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.Now = now })
		pre, err := cl.Precreate(ctx, alipay.PrecreateRequest{OutTradeNo: "QR-EXP", TotalAmount: 100, Subject: "x",
			TimeExpire: alipay.FormatTimestamp(now().Add(2 * time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		offset.Store(int64(3 * time.Minute))
		if _, err := localalipay.PayLink(ctx, pre.QRCode); !errors.Is(err, localalipay.ErrCashier) || !strings.Contains(err.Error(), "ACQ.TRADE_HAS_CLOSE") {
			t.Fatalf("paying an expired QR code: want ACQ.TRADE_HAS_CLOSE, got %v", err)
		}
	})

	t.Run("code on the host the gateway was called on", func(t *testing.T) {
		// A phone scans the code, so it must point where the caller
		// reached this Alipay, not at its loopback listener address.
		viaName := strings.Replace(srv.URL(), "127.0.0.1", "localhost", 1)
		cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.GatewayURL = viaName + "/gateway.do" })
		pre, err := cl.Precreate(ctx, alipay.PrecreateRequest{OutTradeNo: "QR-HOST", TotalAmount: 100, Subject: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(pre.QRCode, viaName+"/qr/") {
			t.Fatalf("qr_code %s, want it under %s/qr/", pre.QRCode, viaName)
		}
		if _, err := localalipay.PayLink(ctx, pre.QRCode); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown code", func(t *testing.T) {
		if _, err := localalipay.PayLink(ctx, srv.URL()+"/qr/lclnope"); !errors.Is(err, localalipay.ErrCashier) {
			t.Fatalf("an unknown code: want a cashier error, got %v", err)
		}
	})
}
