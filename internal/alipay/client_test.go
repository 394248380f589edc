package alipay

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const successInner = `{"code":"10000","msg":"Success","trade_no":"2024010122001400000000000001","out_trade_no":"T20240101001",` +
	`"trade_status":"TRADE_SUCCESS","total_amount":"88.88","receipt_amount":"88.88","buyer_pay_amount":"88.88",` +
	`"buyer_logon_id":"159****5620","send_pay_date":"2024-01-01 12:00:09",` +
	`"subject":"测试\/订单 {\"sign\":\"forged\"}","body":"http:\/\/example.com\/a?b=1&c=\u4e2d"}`

func TestClientQuerySuccess(t *testing.T) {
	g := newFakeGateway(t, func(_ int, req gwRequest) gwReply {
		return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(MethodQuery), successInner)}
	})
	c := newTestClient(t, g, nil)
	got, err := c.Query(context.Background(), "T20240101001")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if got.TradeStatus != "TRADE_SUCCESS" || got.TotalAmount != "88.88" || got.TradeNo != "2024010122001400000000000001" {
		t.Errorf("decoded %+v", got)
	}
	if got.Subject != `测试/订单 {"sign":"forged"}` || got.Body != "http://example.com/a?b=1&c=中" {
		t.Errorf("escapes decoded wrongly: subject %q body %q", got.Subject, got.Body)
	}

	reqs := g.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	for k, want := range map[string]string{
		"app_id": "2021000122671080", "method": MethodQuery, "format": "JSON", "charset": "utf-8",
		"sign_type": "RSA2", "version": "1.0", "timestamp": "2024-01-01 12:00:00",
		"biz_content": `{"out_trade_no":"T20240101001"}`,
	} {
		if r.Params[k] != want {
			t.Errorf("param %s = %q, want %q", k, r.Params[k], want)
		}
	}
	if _, ok := r.Params["app_auth_token"]; ok {
		t.Error("empty app_auth_token was sent")
	}
	if !r.InQuery["charset"] || !r.InQuery["sign"] || r.InQuery["biz_content"] {
		t.Errorf("protocol parameters belong in the URL, biz_content in the body: %v", r.InQuery)
	}
	if r.HTTP.Method != http.MethodPost || !strings.HasPrefix(r.HTTP.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		t.Errorf("request %s %s", r.HTTP.Method, r.HTTP.Header.Get("Content-Type"))
	}
}

func TestClientAppAuthTokenAndRSA(t *testing.T) {
	g := newFakeGateway(t, func(_ int, req gwRequest) gwReply {
		inner := `{"code":"10000","msg":"Success","trade_no":"1","out_trade_no":"T1"}`
		sign, err := Sign(testAlipayKey(t), RSA, []byte(inner))
		if err != nil {
			t.Error(err)
		}
		return gwReply{Body: `{"alipay_trade_close_response":` + inner + `,"sign":"` + sign + `"}`}
	})
	c := newTestClient(t, g, func(cfg *Config) { cfg.AppAuthToken = "202401BBxxx"; cfg.SignType = RSA })
	if _, err := c.Close(context.Background(), "T1"); err != nil {
		t.Fatal(err)
	}
	r := g.requests()[0]
	if r.Params["app_auth_token"] != "202401BBxxx" || r.Params["sign_type"] != "RSA" || !r.InQuery["app_auth_token"] {
		t.Errorf("params %v", r.Params)
	}
}

// TestClientRefusesUntrusted: every way a response can be wrong, and how it
// is reported. None may come back as success.
func TestClientRefusesUntrusted(t *testing.T) {
	alipayKey := testAlipayKey(t)
	key := ResponseKey(MethodQuery)
	signedOK := signedBody(t, alipayKey, key, successInner)
	for _, tc := range []struct {
		name  string
		reply gwReply
		check func(t *testing.T, e *Error)
	}{
		{"unsigned invalid app id is the Alipay error", gwReply{Body: `{"` + key + `":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}`},
			func(t *testing.T, e *Error) {
				if e.Code != "40002" || e.SubCode != SubInvalidAppID || e.SubMsg != "无效的AppID参数" || !e.Unverified {
					t.Errorf("got %+v", e)
				}
				if errors.Is(e, ErrBadSignature) || !IsSubCode(e, SubInvalidAppID) || e.Retryable {
					t.Errorf("misclassified: %v", e)
				}
				if !strings.Contains(e.Error(), "isv.invalid-app-id") || !strings.Contains(e.Error(), "unsigned") {
					t.Errorf("message %q", e.Error())
				}
			}},
		{"unsigned success refused", gwReply{Body: `{"` + key + `":` + successInner + `}`},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) || e.Code != "" {
					t.Errorf("got %+v", e)
				}
			}},
		{"unsigned without code refused", gwReply{Body: `{"` + key + `":{"trade_status":"TRADE_SUCCESS"}}`},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) {
					t.Errorf("got %+v", e)
				}
			}},
		{"signed error_response", gwReply{Body: signedBody(t, alipayKey, "error_response", `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"}`)},
			func(t *testing.T, e *Error) {
				if e.Code != "40002" || e.SubCode != "isv.code-invalid" || e.Unverified {
					t.Errorf("got %+v", e)
				}
			}},
		{"unsigned error_response", gwReply{Body: `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}`},
			func(t *testing.T, e *Error) {
				if e.SubCode != SubInvalidAppID || !e.Unverified {
					t.Errorf("got %+v", e)
				}
			}},
		{"signed error_response claiming success is fine only if signed", gwReply{Body: `{"error_response":{"code":"10000"}}`},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) {
					t.Errorf("got %+v", e)
				}
			}},
		{"signed business error", gwReply{Body: signedBody(t, alipayKey, key, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}`)},
			func(t *testing.T, e *Error) {
				if !IsSubCode(e, SubTradeNotExist) || e.Unverified || e.Retryable || e.TraceID == "" {
					t.Errorf("got %+v", e)
				}
			}},
		{"HTML page", gwReply{Body: "<!DOCTYPE html><html><head><title>支付宝 - 网上支付 安全快速！</title></head></html>"},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrMalformedResponse) || !strings.Contains(e.Error(), "HTML") || !hasHan(e.Error()) {
					t.Errorf("got %v", e)
				}
			}},
		{"HTTP 404", gwReply{Status: 404, Body: "<html>Not Found</html>"},
			func(t *testing.T, e *Error) {
				if e.HTTPStatus != 404 || e.Retryable || !errors.Is(e, ErrHTTPStatus) ||
					!strings.Contains(e.Error(), "HTTP 404") || !strings.Contains(e.Error(), "Not Found") {
					t.Errorf("got %v", e)
				}
			}},
		{"HTTP 200 with signed body but redirect status", gwReply{Status: 302, Body: signedOK},
			func(t *testing.T, e *Error) {
				if e.HTTPStatus != 302 {
					t.Errorf("got %v", e)
				}
			}},
		{"tampered content", gwReply{Body: strings.Replace(signedOK, "TRADE_SUCCESS", "TRADE_FINISHED", 1)},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) || e.Code != "" || !strings.Contains(e.Error(), "AP_PUB_KEY") {
					t.Errorf("got %v", e)
				}
			}},
		{"tampered signature", gwReply{Body: strings.Replace(signedOK, `"sign":"`, `"sign":"AAAA`, 1)},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) {
					t.Errorf("got %v", e)
				}
			}},
		{"signature not base64", gwReply{Body: `{"` + key + `":` + successInner + `,"sign":"!!!"}`},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) {
					t.Errorf("got %v", e)
				}
			}},
		{"signed by the app key, not Alipay's", gwReply{Body: signedBody(t, appKey(t), key, successInner)},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) {
					t.Errorf("got %v", e)
				}
			}},
		{"re-marshalled content", gwReply{Body: strings.Replace(signedOK, `\/`, `/`, -1)},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrBadSignature) {
					t.Errorf("got %v", e)
				}
			}},
		{"duplicate response object", gwReply{Body: `{"` + key + `":{"code":"40004"},` + signedOK[1:]},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrMalformedResponse) {
					t.Errorf("got %v", e)
				}
			}},
		{"signed response of another method", gwReply{Body: signedBody(t, alipayKey, ResponseKey(MethodClose), `{"code":"10000","msg":"Success"}`)},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrMalformedResponse) {
					t.Errorf("got %v", e)
				}
			}},
		{"empty body", gwReply{Body: ""},
			func(t *testing.T, e *Error) {
				if !errors.Is(e, ErrMalformedResponse) {
					t.Errorf("got %v", e)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t, func(int, gwRequest) gwReply { return tc.reply })
			c := newTestClient(t, g, func(cfg *Config) { cfg.MaxAttempts = 1 })
			got, err := c.Query(context.Background(), "T20240101001")
			if err == nil {
				t.Fatalf("returned success: %+v", got)
			}
			if got != nil {
				t.Errorf("returned a result with the error: %+v", got)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %T %v", err, err)
			}
			if e.Method != MethodQuery {
				t.Errorf("method %q", e.Method)
			}
			tc.check(t, e)
		})
	}
}

// TestClientRetries: which calls are retried on which outcomes, with the
// same business content, and that retries stop after MaxAttempts.
func TestClientRetries(t *testing.T) {
	alipayKey := testAlipayKey(t)
	signed := func(method, inner string) gwReply {
		return gwReply{Body: signedBody(t, alipayKey, ResponseKey(method), inner)}
	}
	unknown := `{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error","sub_msg":"系统繁忙"}`
	sysErr := `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}`
	refundOK := `{"code":"10000","msg":"Success","trade_no":"2024","out_trade_no":"T1","fund_change":"Y","refund_fee":"1.50","buyer_logon_id":"159****5620"}`

	t.Run("query through 5xx, network error, 20000 and ACQ.SYSTEM_ERROR", func(t *testing.T) {
		g := newFakeGateway(t, func(n int, req gwRequest) gwReply {
			switch n {
			case 1:
				return gwReply{Status: 502, Body: "Bad Gateway"}
			case 2:
				return gwReply{Drop: true}
			case 3:
				return signed(MethodQuery, unknown)
			case 4:
				return signed(MethodQuery, sysErr)
			}
			return signed(MethodQuery, successInner)
		})
		c := newTestClient(t, g, func(cfg *Config) { cfg.MaxAttempts = 5 })
		got, err := c.Query(context.Background(), "T20240101001")
		if err != nil || got.TradeStatus != "TRADE_SUCCESS" {
			t.Fatalf("got %+v, %v", got, err)
		}
		if n := len(g.requests()); n != 5 {
			t.Fatalf("%d requests, want 5", n)
		}
	})
	t.Run("query stops after MaxAttempts", func(t *testing.T) {
		g := newFakeGateway(t, func(int, gwRequest) gwReply { return signed(MethodQuery, unknown) })
		c := newTestClient(t, g, func(cfg *Config) { cfg.MaxAttempts = 3 })
		_, err := c.Query(context.Background(), "T1")
		var e *Error
		if !errors.As(err, &e) || e.Code != "20000" || !e.Retryable || e.Attempts != 3 {
			t.Fatalf("got %#v", err)
		}
		if !strings.Contains(err.Error(), "after 3 attempts") {
			t.Errorf("message %q", err)
		}
		if n := len(g.requests()); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
	})
	t.Run("refund query retried on 40005", func(t *testing.T) {
		g := newFakeGateway(t, func(n int, req gwRequest) gwReply {
			if n == 1 {
				return signed(MethodRefundQuery, `{"code":"40005","msg":"Call Limited","sub_code":"isv.app-call-limited","sub_msg":"调用频率超限"}`)
			}
			return signed(MethodRefundQuery, `{"code":"10000","msg":"Success","out_trade_no":"T1","out_request_no":"R1","refund_amount":"1.50","refund_status":"REFUND_SUCCESS","gmt_refund_pay":"2024-01-01 12:01:00"}`)
		})
		c := newTestClient(t, g, nil)
		got, err := c.QueryRefund(context.Background(), "T1", "R1")
		if err != nil || got.RefundStatus != "REFUND_SUCCESS" || got.GmtRefundPay == "" {
			t.Fatalf("got %+v, %v", got, err)
		}
		reqs := g.requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests", len(reqs))
		}
		if opts, _ := reqs[1].Biz["query_options"].([]any); len(opts) != 1 || opts[0] != "gmt_refund_pay" {
			t.Errorf("query_options %v", reqs[1].Biz["query_options"])
		}
	})
	t.Run("refund retried with the same out_request_no", func(t *testing.T) {
		g := newFakeGateway(t, func(n int, req gwRequest) gwReply {
			switch n {
			case 1:
				return gwReply{Drop: true}
			case 2:
				return signed(MethodRefund, sysErr)
			case 3:
				return gwReply{Status: 503}
			}
			return signed(MethodRefund, refundOK)
		})
		c := newTestClient(t, g, func(cfg *Config) { cfg.MaxAttempts = 4 })
		got, err := c.Refund(context.Background(), RefundRequest{OutTradeNo: "T1", RefundAmount: 150, OutRequestNo: "R-1", RefundReason: "退货"})
		if err != nil || got.FundChange != "Y" || got.RefundFee != "1.50" {
			t.Fatalf("got %+v, %v", got, err)
		}
		reqs := g.requests()
		if len(reqs) != 4 {
			t.Fatalf("%d requests, want 4", len(reqs))
		}
		for i, r := range reqs {
			if r.Biz["out_request_no"] != "R-1" || r.Biz["refund_amount"] != "1.50" || r.Biz["out_trade_no"] != "T1" {
				t.Errorf("attempt %d: biz %v", i+1, r.Biz)
			}
			if r.Params["biz_content"] != reqs[0].Params["biz_content"] {
				t.Errorf("attempt %d: biz_content changed: %s", i+1, r.Params["biz_content"])
			}
		}
	})
	t.Run("refund not retried on a final business error", func(t *testing.T) {
		g := newFakeGateway(t, func(int, gwRequest) gwReply {
			return signed(MethodRefund, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.REASON_TRADE_REFUND_FEE_ERR","sub_msg":"退款金额无效"}`)
		})
		c := newTestClient(t, g, nil)
		_, err := c.Refund(context.Background(), RefundRequest{OutTradeNo: "T1", RefundAmount: 150, OutRequestNo: "R-1"})
		if !IsSubCode(err, SubRefundFeeErr) || len(g.requests()) != 1 {
			t.Fatalf("err %v after %d requests", err, len(g.requests()))
		}
	})
	t.Run("close is not retried", func(t *testing.T) {
		for _, rep := range []gwReply{{Status: 500}, {Drop: true}, signed(MethodClose, unknown), signed(MethodClose, sysErr)} {
			g := newFakeGateway(t, func(int, gwRequest) gwReply { return rep })
			c := newTestClient(t, g, func(cfg *Config) { cfg.MaxAttempts = 5 })
			if _, err := c.Close(context.Background(), "T1"); err == nil {
				t.Fatal("close succeeded")
			}
			if n := len(g.requests()); n != 1 {
				t.Fatalf("close sent %d requests, want 1", n)
			}
		}
	})
}

// TestClientContext: a cancelled or expired context ends the call, whether
// it is waiting for the gateway or waiting to retry.
func TestClientContext(t *testing.T) {
	t.Run("deadline while the gateway hangs", func(t *testing.T) {
		g := newFakeGateway(t, func(int, gwRequest) gwReply { return gwReply{Hang: true} })
		c := newTestClient(t, g, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := callWithin(t, func() error { _, err := c.Query(ctx, "T1"); return err })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want DeadlineExceeded, got %v", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Retryable {
			t.Fatalf("got %#v", err)
		}
		// On a loaded machine the deadline may pass before the request
		// reaches the gateway; what must never happen is a retry after it.
		if n := len(g.requests()); n > 1 {
			t.Errorf("%d requests, want at most 1: no retry after the deadline", n)
		}
	})
	t.Run("cancel while waiting to retry", func(t *testing.T) {
		g := newFakeGateway(t, func(int, gwRequest) gwReply { return gwReply{Status: 503} })
		c := newTestClient(t, g, nil)
		c.backoff = func(int) time.Duration { return time.Hour }
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for len(g.requests()) == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		err := callWithin(t, func() error { _, err := c.Query(ctx, "T1"); return err })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want Canceled, got %v", err)
		}
		if n := len(g.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("per-attempt timeout is a retryable network error", func(t *testing.T) {
		g := newFakeGateway(t, func(n int, _ gwRequest) gwReply {
			if n == 1 {
				return gwReply{Hang: true}
			}
			return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(MethodQuery), successInner)}
		})
		// Long enough for a signed answer under -race on a loaded machine;
		// the first attempt hangs until it passes.
		c := newTestClient(t, g, func(cfg *Config) { cfg.Timeout = time.Second })
		if _, err := c.Query(context.Background(), "T20240101001"); err != nil {
			t.Fatalf("query after a timed-out attempt: %v", err)
		}
		if n := len(g.requests()); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
}

// callWithin runs f and fails the test if it has not returned after a
// generous bound (a hang, not a slowness check).
func callWithin(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("call did not return after its context ended")
		return nil
	}
}

func TestClientValidatesInput(t *testing.T) {
	g := newFakeGateway(t, func(int, gwRequest) gwReply { t.Error("request sent for invalid input"); return gwReply{} })
	c := newTestClient(t, g, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name, field string
		call        func() error
	}{
		{"query empty", "out_trade_no", func() error { _, err := c.Query(ctx, ""); return err }},
		{"query bad chars", "out_trade_no", func() error { _, err := c.Query(ctx, "T1&x=1"); return err }},
		{"query too long", "out_trade_no", func() error { _, err := c.Query(ctx, strings.Repeat("a", 65)); return err }},
		{"refund zero", "refund_amount", func() error {
			_, err := c.Refund(ctx, RefundRequest{OutTradeNo: "T1", OutRequestNo: "R1"})
			return err
		}},
		{"refund too much", "refund_amount", func() error {
			_, err := c.Refund(ctx, RefundRequest{OutTradeNo: "T1", OutRequestNo: "R1", RefundAmount: MaxAmount + 1})
			return err
		}},
		{"refund no request no", "out_request_no", func() error {
			_, err := c.Refund(ctx, RefundRequest{OutTradeNo: "T1", RefundAmount: 1})
			return err
		}},
		{"refund reason too long", "refund_reason", func() error {
			_, err := c.Refund(ctx, RefundRequest{OutTradeNo: "T1", OutRequestNo: "R1", RefundAmount: 1, RefundReason: strings.Repeat("退", 257)})
			return err
		}},
		{"refund query", "out_request_no", func() error { _, err := c.QueryRefund(ctx, "T1", "R 1"); return err }},
		{"close", "out_trade_no", func() error { _, err := c.Close(ctx, "订单1"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.HasPrefix(err.Error(), tc.field) || !hasHan(err.Error()) {
				t.Fatalf("want an error naming %s in Chinese and English, got %v", tc.field, err)
			}
		})
	}
}

func TestNewClientConfig(t *testing.T) {
	app := appKey(t)
	pub := testAlipayPublic(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		says string
	}{
		{"no app id", Config{PrivateKey: app, AlipayPublicKey: pub}, "app id"},
		{"no private key", Config{AppID: "1", AlipayPublicKey: pub}, "private key"},
		{"no Alipay key", Config{AppID: "1", PrivateKey: app}, "Alipay public key"},
		{"bad sign type", Config{AppID: "1", PrivateKey: app, AlipayPublicKey: pub, SignType: "SM2"}, "RSA2"},
		{"relative gateway", Config{AppID: "1", PrivateKey: app, AlipayPublicKey: pub, GatewayURL: "/gateway.do"}, "gateway URL"},
		{"ftp gateway", Config{AppID: "1", PrivateKey: app, AlipayPublicKey: pub, GatewayURL: "ftp://x/gateway.do"}, "gateway URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("want an error saying %q, got %v", tc.says, err)
			}
		})
	}
	c, err := NewClient(Config{AppID: "1", PrivateKey: app, AlipayPublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if c.GatewayURL() != ProdGateway || c.cfg.SignType != RSA2 || c.cfg.MaxAttempts != 3 || c.AppID() != "1" {
		t.Errorf("defaults: %+v", c.cfg)
	}
}

func TestClientVerifyNotification(t *testing.T) {
	c := linkClient(t, nil)
	alipayKey := testAlipayKey(t)
	signedForm := func(mod func(url.Values)) url.Values {
		f := katN3Form("")
		f.Del("sign")
		if mod != nil {
			mod(f)
		}
		p, err := FlattenForm(f)
		if err != nil {
			t.Fatal(err)
		}
		sign, err := Sign(alipayKey, RSA2, []byte(NotifySignContent(p)))
		if err != nil {
			t.Fatal(err)
		}
		f.Set("sign", sign)
		return f
	}
	p, err := c.VerifyNotification(signedForm(nil))
	if err != nil || p["trade_status"] != "TRADE_SUCCESS" || p["passback_params"] != "a%3D1%26b%3D2" {
		t.Fatalf("valid notification: %v %v", p, err)
	}
	ret := signedForm(func(f url.Values) {
		f.Set("method", "alipay.trade.page.pay.return")
		f.Del("trade_status")
	})
	if err := c.VerifyReturn(ret); err != nil {
		t.Fatalf("valid return: %v", err)
	}
	for name, f := range map[string]url.Values{
		"other app":  signedForm(func(f url.Values) { f.Set("app_id", "2021000000000000") }),
		"tampered":   func() url.Values { f := signedForm(nil); f.Set("total_amount", "0.01"); return f }(),
		"duplicated": func() url.Values { f := signedForm(nil); f.Add("trade_status", "TRADE_SUCCESS"); return f }(),
		"app signed": katN3Form(mustSign(t, appKey(t), katN3Form(""))),
		"unsigned":   katN3Form(""),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.VerifyNotification(f); err == nil {
				t.Fatal("accepted")
			}
			if err := c.VerifyReturn(f); err == nil {
				t.Fatal("accepted as a return")
			}
		})
	}
}

func mustSign(t *testing.T, key *rsa.PrivateKey, f url.Values) string {
	t.Helper()
	p, err := FlattenForm(f)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Sign(key, RSA2, []byte(NotifySignContent(p)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestErrorText(t *testing.T) {
	e := &Error{Method: MethodRefund, Code: "40004", Msg: "Business Failed", SubCode: SubSystemError, SubMsg: "系统错误",
		Retryable: true, TraceID: "0b1", Attempts: 3}
	for _, want := range []string{"alipay.trade.refund", "code=40004", "sub_code=ACQ.SYSTEM_ERROR", "系统错误", "after 3 attempts", "trace_id=0b1"} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("%q lacks %q", e.Error(), want)
		}
	}
	if !errors.Is(e, &Error{SubCode: SubSystemError}) || errors.Is(e, &Error{SubCode: SubTradeNotExist}) || !IsSubCode(e, SubSystemError) {
		t.Error("Is/IsSubCode")
	}
	wrapped := fmt.Errorf("refund: %w", e)
	if !IsSubCode(wrapped, SubSystemError) {
		t.Error("IsSubCode through wrapping")
	}
}

// A failed request's error names the gateway but never carries the query
// string the request was sent with: it holds app_auth_token, which the
// configuration keeps secret, and the error reaches tool results.
func TestClientNetworkErrorHidesQuery(t *testing.T) {
	const token = "202401BBsecretToken"
	g := newFakeGateway(t, func(int, gwRequest) gwReply { return gwReply{Drop: true} })
	c := newTestClient(t, g, func(cfg *Config) { cfg.AppAuthToken = token; cfg.MaxAttempts = 1 })
	_, err := c.Query(context.Background(), "T1")
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.Code != "" {
		t.Fatalf("want a retryable network error, got %#v", err)
	}
	if len(g.requests()) != 1 {
		t.Fatalf("%d requests, want 1", len(g.requests()))
	}
	msg := err.Error()
	for _, secret := range []string{token, "app_auth_token", "sign="} {
		if strings.Contains(msg, secret) {
			t.Errorf("error carries %q: %s", secret, msg)
		}
	}
	if !strings.Contains(msg, g.url()) {
		t.Errorf("error does not name the gateway %s: %s", g.url(), msg)
	}
}

// TestClientBindsAnswers: a verified answer of close or precreate about
// another order than the one asked about is refused, as is a precreate
// answer without qr_code.
func TestClientBindsAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, method, inner string
		call                func(*Client) error
		want                string
		is                  error
	}{
		{"close of another order", MethodClose, `{"code":"10000","msg":"Success","trade_no":"1","out_trade_no":"OTHER"}`,
			func(c *Client) error { _, err := c.Close(context.Background(), "T1"); return err }, `"OTHER"`, ErrAnswerMismatch},
		{"precreate of another order", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"OTHER","qr_code":"https://qr.alipay.com/bax1"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, `"OTHER"`, ErrAnswerMismatch},
		{"precreate without qr_code", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: markdown link", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"[Pay](https://evil.example/pay)"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: image", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"![x](https://evil.example/x.png)"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: html", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"<a href=x>Pay</a>"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: space", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https://qr.alipay.com/bax1 [Pay](https://evil.example)"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: bidi", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https://qr.alipay.com/\u202ebax1"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: zero width", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https://qr.alipay.com/ba\u200bx1"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: newline", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https://qr.alipay.com/bax1\n- 金额 / amount: ¥0.01"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: backtick", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https://qr.alipay.com/\u0060x\u0060"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: javascript", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"javascript:alert(1)"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: relative", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"/bax1"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: no host", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https:///bax1"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
		{"precreate with a hostile qr_code: user info", MethodPrecreate, `{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https://qr.alipay.com@evil.example/bax1"}`,
			func(c *Client) error {
				_, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 100, Subject: "x"})
				return err
			}, "qr_code", ErrMalformedResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t, func(int, gwRequest) gwReply {
				return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(tc.method), tc.inner)}
			})
			err := tc.call(newTestClient(t, g, nil))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %v naming %s, got %v", tc.is, tc.want, err)
			}
		})
	}
	t.Run("precreate sends what was asked", func(t *testing.T) {
		g := newFakeGateway(t, func(int, gwRequest) gwReply {
			return gwReply{Body: signedBody(t, testAlipayKey(t), ResponseKey(MethodPrecreate),
				`{"code":"10000","msg":"Success","out_trade_no":"T1","qr_code":"https://qr.alipay.com/bax1"}`)}
		})
		c := newTestClient(t, g, func(cfg *Config) { cfg.NotifyURL = "https://shop.example/notify" })
		res, err := c.Precreate(context.Background(), PrecreateRequest{OutTradeNo: "T1", TotalAmount: 1999, Subject: "插画", TimeoutExpress: "30m"})
		if err != nil || res.QRCode != "https://qr.alipay.com/bax1" {
			t.Fatalf("%+v %v", res, err)
		}
		r := g.requests()[0]
		if r.Params["biz_content"] != `{"out_trade_no":"T1","total_amount":"19.99","subject":"插画","product_code":"FACE_TO_FACE_PAYMENT","timeout_express":"30m"}` {
			t.Errorf("biz_content %s", r.Params["biz_content"])
		}
		if r.Params["notify_url"] != "https://shop.example/notify" || !r.InQuery["notify_url"] {
			t.Errorf("notify_url must travel as a public parameter: %v", r.Params)
		}
	})
}
