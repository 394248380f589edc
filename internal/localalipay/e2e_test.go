package localalipay_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// TestPaymentLifecycle drives a whole payment with the real Go client over
// real HTTP: link → open → pay → notification → query → refunds → refund
// query → over-refund → full refund; and close of an unpaid trade.
func TestPaymentLifecycle(t *testing.T) {
	ctx := ctxT(t)
	srv := startServer(t, localalipay.Options{})
	sink := newSink(t, nil)
	const returnURL = "http://127.0.0.1:9/shop/return"
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) {
		c.NotifyURL = sink.URL + "/notify"
		c.ReturnURL = returnURL
	})

	const otn = "T20240101-lifecycle_1"
	_, err := cl.Query(ctx, otn)
	if !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
		t.Fatalf("query before the link is opened: want ACQ.TRADE_NOT_EXIST, got %v", err)
	}

	link, err := cl.PagePayURL(alipay.PayRequest{OutTradeNo: otn, TotalAmount: 8888, Subject: "测试/订单 & <b>"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Query(ctx, otn); !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
		t.Fatalf("a link alone must not create the trade; got %v", err)
	}
	tradeNo, err := localalipay.OpenLink(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tradeNo, "LOCAL") {
		t.Errorf("trade_no %q is not recognisably local", tradeNo)
	}
	q, err := cl.Query(ctx, otn)
	if err != nil {
		t.Fatal(err)
	}
	if q.TradeStatus != localalipay.StatusWaitBuyerPay || q.TradeNo != tradeNo || q.TotalAmount != "88.88" {
		t.Fatalf("after opening: %+v", q)
	}

	ret, err := localalipay.PayLink(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ret, returnURL+"?") {
		t.Fatalf("redirect %q does not go to return_url", ret)
	}
	ru, _ := url.Parse(ret)
	if err := cl.VerifyReturn(ru.Query()); err != nil {
		t.Errorf("return parameters do not verify: %v", err)
	}
	if m := ru.Query().Get("method"); m != "alipay.trade.page.pay.return" {
		t.Errorf("return method = %q", m)
	}
	if ru.Query().Get("out_trade_no") != otn || ru.Query().Get("total_amount") != "88.88" {
		t.Errorf("return params: %v", ru.Query())
	}

	n := sink.next(t)
	p, err := cl.VerifyNotification(n)
	if err != nil {
		t.Fatalf("payment notification does not verify: %v", err)
	}
	want := map[string]string{"trade_status": "TRADE_SUCCESS", "out_trade_no": otn, "trade_no": tradeNo,
		"total_amount": "88.88", "receipt_amount": "88.88", "buyer_pay_amount": "88.88", "notify_type": "trade_status_sync",
		"sign_type": "RSA2", "subject": "测试/订单 & <b>", "charset": "utf-8", "version": "1.0",
		"fund_bill_list": `[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]`}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("notification %s = %q, want %q", k, p[k], v)
		}
	}
	for _, k := range []string{"notify_id", "notify_time", "gmt_create", "gmt_payment", "seller_id", "buyer_id", "buyer_logon_id", "auth_app_id"} {
		if p[k] == "" {
			t.Errorf("notification lacks %s", k)
		}
	}
	if !strings.Contains(p["buyer_logon_id"], "****") {
		t.Errorf("buyer_logon_id %q is not masked", p["buyer_logon_id"])
	}

	q, err = cl.Query(ctx, otn)
	if err != nil {
		t.Fatal(err)
	}
	if q.TradeStatus != "TRADE_SUCCESS" || q.SendPayDate == "" || q.BuyerPayAmount != "88.88" || q.ReceiptAmount != "88.88" {
		t.Fatalf("after paying: %+v", q)
	}

	refunds := []struct {
		name, no     string
		amount       alipay.Amount
		fundChange   string
		refundFee    string
		wantSub      string
		notifyRefund string
		notifyTrade  string
	}{
		{"first partial", "R1", 1000, "Y", "10.00", "", "10.00", "TRADE_SUCCESS"},
		{"repeat does not refund twice", "R1", 1000, "N", "10.00", "", "", ""},
		{"same number other amount", "R1", 500, "", "", alipay.SubDiscordantRepeat, "", ""},
		{"second partial", "R2", 2000, "Y", "30.00", "", "30.00", "TRADE_SUCCESS"},
		{"more than remains", "R3", 5889, "", "", alipay.SubRefundFeeErr, "", ""},
		{"the rest closes the trade", "R3", 5888, "Y", "88.88", "", "88.88", "TRADE_CLOSED"},
		{"refund of a closed trade", "R4", 1, "", "", alipay.SubTradeStatusError, "", ""},
	}
	for _, rc := range refunds {
		t.Run(rc.name, func(t *testing.T) {
			res, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: otn, RefundAmount: rc.amount, OutRequestNo: rc.no, RefundReason: "退货"})
			if rc.wantSub != "" {
				if !alipay.IsSubCode(err, rc.wantSub) {
					t.Fatalf("want %s, got %v", rc.wantSub, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.FundChange != rc.fundChange || res.RefundFee != rc.refundFee || res.GmtRefundPay == "" || res.TradeNo != tradeNo {
				t.Fatalf("refund: %+v", res)
			}
			if rc.notifyRefund == "" {
				return
			}
			n := sink.next(t)
			p, err := cl.VerifyNotification(n)
			if err != nil {
				t.Fatalf("refund notification does not verify: %v", err)
			}
			if p["refund_fee"] != rc.notifyRefund || p["out_biz_no"] != rc.no || p["trade_status"] != rc.notifyTrade || p["gmt_refund"] == "" {
				t.Fatalf("refund notification: %v", p)
			}
			if p["notify_id"] == "" {
				t.Fatal("no notify_id")
			}
		})
	}
	sink.none(t, 100e6)

	rq, err := cl.QueryRefund(ctx, otn, "R1")
	if err != nil {
		t.Fatal(err)
	}
	if rq.RefundStatus != "REFUND_SUCCESS" || rq.RefundAmount != "10.00" || rq.TotalAmount != "88.88" || rq.GmtRefundPay == "" || rq.OutRequestNo != "R1" {
		t.Fatalf("refund query: %+v", rq)
	}
	rq, err = cl.QueryRefund(ctx, otn, "NOPE")
	if err != nil {
		t.Fatal(err)
	}
	if rq.RefundStatus != "" {
		t.Fatalf("unknown refund has refund_status %q", rq.RefundStatus)
	}
	q, err = cl.Query(ctx, otn)
	if err != nil || q.TradeStatus != "TRADE_CLOSED" {
		t.Fatalf("after the full refund: %+v, %v", q, err)
	}

	// Closing an unpaid trade.
	const otn2 = "T20240101-lifecycle_2"
	if _, err := cl.Close(ctx, otn2); !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
		t.Fatalf("close before opening: want ACQ.TRADE_NOT_EXIST, got %v", err)
	}
	link2, err := cl.WapPayURL(alipay.PayRequest{OutTradeNo: otn2, TotalAmount: 1, Subject: "close me"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.OpenLink(ctx, link2); err != nil {
		t.Fatal(err)
	}
	cr, err := cl.Close(ctx, otn2)
	if err != nil {
		t.Fatal(err)
	}
	if cr.OutTradeNo != otn2 || cr.TradeNo == "" {
		t.Fatalf("close: %+v", cr)
	}
	n = sink.next(t)
	if p, err := cl.VerifyNotification(n); err != nil || p["trade_status"] != "TRADE_CLOSED" || p["out_trade_no"] != otn2 || p["gmt_close"] == "" {
		t.Fatalf("close notification: %v %v", p, err)
	}
	q, err = cl.Query(ctx, otn2)
	if err != nil || q.TradeStatus != "TRADE_CLOSED" {
		t.Fatalf("after close: %+v %v", q, err)
	}
	if _, err := cl.Close(ctx, otn2); !alipay.IsSubCode(err, alipay.SubTradeStatusError) {
		t.Fatalf("second close: want ACQ.TRADE_STATUS_ERROR, got %v", err)
	}
	if _, err := localalipay.PayLink(ctx, link2); !errors.Is(err, localalipay.ErrCashier) || !strings.Contains(err.Error(), "ACQ.TRADE_HAS_CLOSE") {
		t.Fatalf("paying a closed trade: %v", err)
	}
	if _, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: otn2, RefundAmount: 1, OutRequestNo: "X"}); !alipay.IsSubCode(err, alipay.SubTradeStatusError) {
		t.Fatalf("refund of an unpaid trade: %v", err)
	}
}
