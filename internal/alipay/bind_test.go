package alipay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestAnswerBoundToRequest: a gateway that signs correctly but answers
// about another order, another refund request, another trade number or
// another app is refused with ErrAnswerMismatch, once, without retrying,
// and nothing of that answer is returned.
func TestAnswerBoundToRequest(t *testing.T) {
	const (
		order   = "ORDER-A"
		tradeNo = "2026112522001400000000000001"
	)
	query := func(fields string) string {
		return `{"code":"10000","msg":"Success",` + fields + `,"trade_status":"TRADE_SUCCESS","total_amount":"0.29"}`
	}
	refundOK := func(fields string) string {
		return `{"code":"10000","msg":"Success",` + fields + `,"fund_change":"Y","refund_fee":"0.10"}`
	}
	refundQuery := func(fields string) string {
		return `{"code":"10000","msg":"Success",` + fields + `,"refund_amount":"0.10","refund_status":"REFUND_SUCCESS","total_amount":"0.29"}`
	}
	type call func(c *Client) error
	doQuery := func(c *Client) error { _, err := c.Query(context.Background(), order); return err }
	doRefund := func(c *Client) error {
		_, err := c.Refund(context.Background(), RefundRequest{OutTradeNo: order, OutRequestNo: "R1", RefundAmount: 10})
		return err
	}
	doRefundQuery := func(c *Client) error { _, err := c.QueryRefund(context.Background(), order, "R1"); return err }
	doClose := func(c *Client) error { _, err := c.Close(context.Background(), order); return err }
	doPrecreate := func(c *Client) error {
		_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: order, TotalAmount: 29, Subject: "x"})
		return err
	}
	closed := func(fields string) string { return `{"code":"10000","msg":"Success",` + fields + `}` }
	precreated := func(fields string) string {
		return `{"code":"10000","msg":"Success",` + fields + `,"qr_code":"https://qr.alipay.com/bax1"}`
	}
	for _, tc := range []struct {
		name   string
		method string
		inner  string
		do     call
		field  string // "" = the answer is bound and accepted
		known  string // trade number already known for the order
	}{
		{"query about this order", MethodQuery, query(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A"`), doQuery, "", ""},
		{"query about another order", MethodQuery, query(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-B"`), doQuery, "out_trade_no", ""},
		{"query naming no order", MethodQuery, query(`"trade_no":"` + tradeNo + `"`), doQuery, "out_trade_no", ""},
		{"query with another trade number", MethodQuery, query(`"trade_no":"2026112522001400000000000999","out_trade_no":"ORDER-A"`), doQuery, "trade_no", tradeNo},
		{"query with the known trade number", MethodQuery, query(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A"`), doQuery, "", tradeNo},
		{"query for another app", MethodQuery, query(`"app_id":"2021000000000999","trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A"`), doQuery, "app_id", ""},
		{"not-exist for another order", MethodQuery, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在","out_trade_no":"ORDER-B"}`, doQuery, "out_trade_no", ""},
		{"refund of this order", MethodRefund, refundOK(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A"`), doRefund, "", ""},
		{"refund of another order", MethodRefund, refundOK(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-B"`), doRefund, "out_trade_no", ""},
		{"refund of another trade", MethodRefund, refundOK(`"trade_no":"2026112522001400000000000999","out_trade_no":"ORDER-A"`), doRefund, "trade_no", tradeNo},
		{"refund query of this request", MethodRefundQuery, refundQuery(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A","out_request_no":"R1"`), doRefundQuery, "", ""},
		{"refund query of another request", MethodRefundQuery, refundQuery(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A","out_request_no":"R2"`), doRefundQuery, "out_request_no", ""},
		{"refund query of another order", MethodRefundQuery, refundQuery(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-B","out_request_no":"R1"`), doRefundQuery, "out_trade_no", ""},
		{"refund query naming no request", MethodRefundQuery, refundQuery(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A"`), doRefundQuery, "out_request_no", ""},
		{"close of this order", MethodClose, closed(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A"`), doClose, "", ""},
		{"close of another order", MethodClose, closed(`"trade_no":"` + tradeNo + `","out_trade_no":"ORDER-B"`), doClose, "out_trade_no", ""},
		{"close naming no order", MethodClose, closed(`"trade_no":"` + tradeNo + `"`), doClose, "out_trade_no", ""},
		{"close of another trade", MethodClose, closed(`"trade_no":"2026112522001400000000000999","out_trade_no":"ORDER-A"`), doClose, "trade_no", tradeNo},
		{"close for another app", MethodClose, closed(`"app_id":"2021000000000999","trade_no":"` + tradeNo + `","out_trade_no":"ORDER-A"`), doClose, "app_id", ""},
		{"precreate of this order", MethodPrecreate, precreated(`"out_trade_no":"ORDER-A"`), doPrecreate, "", ""},
		{"precreate of another order", MethodPrecreate, precreated(`"out_trade_no":"ORDER-B"`), doPrecreate, "out_trade_no", ""},
		{"precreate naming no order", MethodPrecreate, precreated(`"out_trade_no":""`), doPrecreate, "out_trade_no", ""},
		{"precreate for another app", MethodPrecreate, precreated(`"app_id":"2021000000000999","out_trade_no":"ORDER-A"`), doPrecreate, "app_id", ""},
		{"unknown refund names nothing", MethodRefundQuery, `{"code":"10000","msg":"Success"}`, doRefundQuery, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t, func(int, gwRequest) gwReply {
				return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(tc.method), tc.inner)}
			})
			book := NewTradeBook(0)
			if tc.known != "" {
				book.Learn(order, tc.known)
			}
			c := newTestClient(t, g, func(cfg *Config) { cfg.Trades = book; cfg.MaxAttempts = 3 })
			err := tc.do(c)
			if tc.field == "" {
				if err != nil && !IsSubCode(err, SubTradeNotExist) {
					t.Fatalf("a bound answer was refused: %v", err)
				}
				return
			}
			var m *MismatchError
			if !errors.Is(err, ErrAnswerMismatch) || !errors.As(err, &m) || m.Field != tc.field {
				t.Fatalf("want a mismatch on %s, got %v", tc.field, err)
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Retryable || ae.Code != "" {
				t.Errorf("a mismatch must be a non-retryable error without Alipay's code: %+v", ae)
			}
			if n := len(g.requests()); n != 1 {
				t.Errorf("%d requests; a mismatch is not retried", n)
			}
			if !strings.Contains(err.Error(), "支付宝网关答复的是另一笔订单或请求") {
				t.Errorf("error does not say the gateway answered about something else: %v", err)
			}
		})
	}
}

// TestTradeBookLearnsFromBoundAnswers: the trade number of a bound success
// is learnt, so a later answer with another one is refused.
func TestTradeBookLearnsFromBoundAnswers(t *testing.T) {
	tn := "2026112522001400000000000001"
	g := newFakeGateway(t, func(n int, _ gwRequest) gwReply {
		if n == 2 {
			tn = "2026112522001400000000000777"
		}
		return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(MethodQuery),
			`{"code":"10000","msg":"Success","trade_no":"`+tn+`","out_trade_no":"ORDER-A","trade_status":"WAIT_BUYER_PAY","total_amount":"1.00"}`)}
	})
	c := newTestClient(t, g, func(cfg *Config) { cfg.MaxAttempts = 1 })
	if _, err := c.Query(context.Background(), "ORDER-A"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "ORDER-A"); !errors.Is(err, ErrAnswerMismatch) {
		t.Fatalf("second answer with another trade number: want a mismatch, got %v", err)
	}
	b := NewTradeBook(2)
	b.Learn("a", "1")
	b.Learn("a", "2")
	b.Learn("b", "3")
	b.Learn("c", "4")
	if b.Get("a") != "" || b.Get("b") != "3" || b.Get("c") != "4" {
		t.Errorf("bounded book: a=%q b=%q c=%q", b.Get("a"), b.Get("b"), b.Get("c"))
	}
}

// TestGatewayTextScrubbed: a gateway that echoes the string it verified
// (app_auth_token inside), the token itself, or a signature never gets
// them into an error.
func TestGatewayTextScrubbed(t *testing.T) {
	const token = "202611BBf2c0a1b9e0d34c9f8e8cdd5a9ecX12"
	var sign string
	g := newFakeGateway(t, func(_ int, req gwRequest) gwReply {
		sign = req.Params["sign"]
		echo := "验签出错, 网关生成的验签字符串为: app_auth_token=" + req.Params["app_auth_token"] +
			"&amp;app_id=2021000122671080&amp;sign=" + sign + " token " + token
		return gwReply{Body: signedBody(t, testAlipayKey(t), "error_response",
			fmt.Sprintf(`{"code":"40002","msg":"Invalid Arguments %s","sub_code":"isv.invalid-signature","sub_msg":%q}`, token, echo))}
	})
	c := newTestClient(t, g, func(cfg *Config) { cfg.AppAuthToken = token; cfg.MaxAttempts = 1 })
	_, err := c.Query(context.Background(), "ORDER-A")
	var ae *Error
	if !errors.As(err, &ae) || ae.SubCode != SubInvalidSignature {
		t.Fatalf("want isv.invalid-signature, got %v", err)
	}
	for _, s := range []string{err.Error(), ae.SubMsg, ae.Msg} {
		if strings.Contains(s, token) || sign == "" || strings.Contains(s, sign) {
			t.Errorf("a secret reached the error: %s", s)
		}
		if !strings.Contains(s, Redacted) {
			t.Errorf("nothing marked redacted in %q", s)
		}
	}
}

// TestNoAttemptAfterDeadline: once the context is done no request is sent,
// and the error says none was (Attempts 0).
func TestNoAttemptAfterDeadline(t *testing.T) {
	g := newFakeGateway(t, func(int, gwRequest) gwReply { return gwReply{Hang: true} })
	c := newTestClient(t, g, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Refund(ctx, RefundRequest{OutTradeNo: "ORDER-A", OutRequestNo: "R1", RefundAmount: 10})
	var ae *Error
	if !errors.As(err, &ae) || ae.Attempts != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("want Canceled with 0 attempts, got %+v", err)
	}
	if n := len(g.requests()); n != 0 {
		t.Errorf("%d requests sent after the deadline", n)
	}
}

// TestSuccessFieldsScrubbed: a verified success whose fields echo the
// app_auth_token hands it to nobody.
func TestSuccessFieldsScrubbed(t *testing.T) {
	const token = "202611BBf2c0a1b9e0d34c9f8e8cdd5a9ecX12"
	g := newFakeGateway(t, func(int, gwRequest) gwReply {
		return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(MethodQuery),
			`{"code":"10000","msg":"Success","trade_no":"2026112522001400000000000001","out_trade_no":"ORDER-A","trade_status":"TRADE_SUCCESS","total_amount":"1.00","subject":"x `+token+` app_auth_token=`+token+`"}`)}
	})
	c := newTestClient(t, g, func(cfg *Config) { cfg.AppAuthToken = token })
	q, err := c.Query(context.Background(), "ORDER-A")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(q.Subject, token) || !strings.Contains(q.Subject, Redacted) || q.TradeStatus != TradeSuccess {
		t.Errorf("decoded %+v", q)
	}
}

// TestTradeBookFallback: after a restart the book is empty, but its
// fallback (the ledger, in the server) still knows the order's trade
// number, so a signed answer naming another one is refused; one naming the
// stored number is accepted.
func TestTradeBookFallback(t *testing.T) {
	const stored = "2026112522001400000000000001"
	for _, tc := range []struct {
		name, answered string
		mismatch       bool
	}{
		{"another trade number", "2026112522001400000000000999", true},
		{"the stored trade number", stored, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t, func(int, gwRequest) gwReply {
				return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(MethodQuery),
					`{"code":"10000","msg":"Success","trade_no":"`+tc.answered+`","out_trade_no":"ORDER-A","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}`)}
			})
			book := NewTradeBook(0) // a fresh process: nothing learnt yet
			asked := 0
			book.SetFallback(func(_ context.Context, no string) string {
				asked++
				if no == "ORDER-A" {
					return stored
				}
				return ""
			})
			c := newTestClient(t, g, func(cfg *Config) { cfg.Trades = book; cfg.MaxAttempts = 1 })
			_, err := c.Query(context.Background(), "ORDER-A")
			var m *MismatchError
			if tc.mismatch {
				if !errors.As(err, &m) || m.Field != "trade_no" || m.Asked != stored {
					t.Fatalf("want a trade_no mismatch against the stored %s, got %v", stored, err)
				}
			} else if err != nil {
				t.Fatalf("the stored trade number was refused: %v", err)
			}
			if asked != 1 || book.Get("ORDER-A") != stored {
				t.Errorf("fallback asked %d times, book holds %q; want once, and the stored number learnt", asked, book.Get("ORDER-A"))
			}
		})
	}
}
