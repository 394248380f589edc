package localalipay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
)

// The official Alipay Node SDK (interop/localalipay-sdk.mjs) is a second,
// independent client of the local Alipay: it signs its own requests, and
// with validateSign:true it checks every answer against the local Alipay's
// public key, so a wrong signature anywhere fails these tests.

// nodeStep is one step of interop/localalipay-sdk.mjs.
type nodeStep map[string]any

func execStep(method string, biz map[string]any) nodeStep {
	return nodeStep{"op": "exec", "method": method, "bizContent": biz}
}

// nodeResult is what a step printed: an exec answer as the SDK returns it
// (camelCased), a pageExecute link, a checkNotifySignV2 verdict, or the
// error the step threw.
type nodeResult struct {
	Code         string `json:"code"`
	Msg          string `json:"msg"`
	SubCode      string `json:"subCode"`
	SubMsg       string `json:"subMsg"`
	TraceID      string `json:"traceId"`
	OutTradeNo   string `json:"outTradeNo"`
	TradeNo      string `json:"tradeNo"`
	TradeStatus  string `json:"tradeStatus"`
	TotalAmount  string `json:"totalAmount"`
	RefundFee    string `json:"refundFee"`
	FundChange   string `json:"fundChange"`
	OutRequestNo string `json:"outRequestNo"`
	RefundAmount string `json:"refundAmount"`
	RefundStatus string `json:"refundStatus"`
	GmtRefundPay string `json:"gmtRefundPay"`

	URL string `json:"url"`
	OK  *bool  `json:"ok"`

	Error *struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"error"`
}

// runNodeSDK runs the steps with the Node SDK configured from the server's
// credentials, which travel on stdin only. The Node process runs in Beijing
// time, as a merchant's must (see runNodeSDKInZone).
func runNodeSDK(t *testing.T, c localalipay.Credentials, steps ...nodeStep) []nodeResult {
	t.Helper()
	return runNodeSDKInZone(t, c, "", steps...)
}

// runNodeSDKInZone is runNodeSDK with the Node process in time zone tz
// ("" = Asia/Shanghai): the SDK writes the request timestamp in local time.
func runNodeSDKInZone(t *testing.T, c localalipay.Credentials, tz string, steps ...nodeStep) []nodeResult {
	t.Helper()
	in, err := json.Marshal(map[string]any{
		"config": map[string]string{"appId": c.AppID, "privateKey": c.AppPrivateKey,
			"alipayPublicKey": c.AlipayPublicKey, "gateway": c.GatewayURL, "tz": tz},
		"steps": steps,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := nodeinterop.Run(t, "localalipay-sdk.mjs", in)
	if strings.Contains(string(out), c.AppPrivateKey) {
		t.Fatal("the Node script printed the app private key")
	}
	var res struct {
		Results []nodeResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if len(res.Results) != len(steps) {
		t.Fatalf("node answered %d results for %d steps: %s", len(res.Results), len(steps), out)
	}
	return res.Results
}

// wantOK fails unless the exec step succeeded (code 10000, signature valid).
func wantOK(t *testing.T, name string, r nodeResult) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("%s: the Node SDK threw %s: %s", name, r.Error.Name, r.Error.Message)
	}
	if r.Code != "10000" || r.Msg != "Success" {
		t.Fatalf("%s: code %q msg %q sub %q %q, want 10000 Success", name, r.Code, r.Msg, r.SubCode, r.SubMsg)
	}
}

// wantBizError fails unless the exec step returned a signed 40004 answer
// with that sub code.
func wantBizError(t *testing.T, name string, r nodeResult, sub string) {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("%s: the Node SDK threw %s: %s (a signed business error must be returned, not thrown)",
			name, r.Error.Name, r.Error.Message)
	}
	if r.Code != "40004" || r.SubCode != sub || r.SubMsg == "" {
		t.Fatalf("%s: code %q sub %q %q, want 40004 %s", name, r.Code, r.SubCode, r.SubMsg, sub)
	}
}

// TestNodeSDKExecValidateSign runs query, partial refunds, refund query and
// close through the Node SDK's exec with validateSign:true, and checks the
// effects with the Go side.
func TestNodeSDKExecValidateSign(t *testing.T) {
	ctx := ctxT(t)
	srv := startServer(t, localalipay.Options{})
	creds := srv.Credentials()
	cl := newClient(t, creds, nil)

	const paid, open = "NODE-PAID-1", "NODE-OPEN-1"
	link, err := cl.PagePayURL(alipay.PayRequest{OutTradeNo: paid, TotalAmount: 8888, Subject: "Node 查询"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.PayLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	link, err = cl.WapPayURL(alipay.PayRequest{OutTradeNo: open, TotalAmount: 500, Subject: "Node 关闭"})
	if err != nil {
		t.Fatal(err)
	}
	openTradeNo, err := localalipay.OpenLink(ctx, link)
	if err != nil {
		t.Fatal(err)
	}

	refundQuery := map[string]any{"out_trade_no": paid, "out_request_no": "R1", "query_options": []string{"gmt_refund_pay"}}
	r := runNodeSDK(t, creds,
		execStep(alipay.MethodQuery, map[string]any{"out_trade_no": paid}),
		execStep(alipay.MethodRefund, map[string]any{"out_trade_no": paid, "refund_amount": "10.01", "out_request_no": "R1", "refund_reason": "部分退款 node"}),
		execStep(alipay.MethodRefund, map[string]any{"out_trade_no": paid, "refund_amount": "10.01", "out_request_no": "R1"}),
		execStep(alipay.MethodRefundQuery, refundQuery),
		execStep(alipay.MethodRefund, map[string]any{"out_trade_no": paid, "refund_amount": "78.88", "out_request_no": "R2"}),
		execStep(alipay.MethodClose, map[string]any{"out_trade_no": open}),
		execStep(alipay.MethodQuery, map[string]any{"out_trade_no": open}),
		execStep(alipay.MethodQuery, map[string]any{"out_trade_no": "NODE-NEVER-OPENED"}),
	)

	t.Run("query", func(t *testing.T) {
		wantOK(t, "query", r[0])
		if r[0].TradeStatus != localalipay.StatusSuccess || r[0].OutTradeNo != paid || r[0].TotalAmount != "88.88" ||
			r[0].TradeNo == "" || r[0].TraceID == "" {
			t.Errorf("query answer: %+v", r[0])
		}
	})
	t.Run("partial refund", func(t *testing.T) {
		wantOK(t, "refund", r[1])
		if r[1].RefundFee != "10.01" || r[1].FundChange != "Y" || r[1].OutTradeNo != paid {
			t.Errorf("refund answer: %+v", r[1])
		}
		wantOK(t, "repeated refund", r[2])
		if r[2].RefundFee != "10.01" || r[2].FundChange != "N" {
			t.Errorf("a repeat with the same out_request_no must not refund twice: %+v", r[2])
		}
	})
	t.Run("refund query", func(t *testing.T) {
		wantOK(t, "refund query", r[3])
		if r[3].RefundStatus != "REFUND_SUCCESS" || r[3].RefundAmount != "10.01" || r[3].OutRequestNo != "R1" ||
			r[3].TotalAmount != "88.88" {
			t.Errorf("refund query answer: %+v", r[3])
		}
		if _, err := alipay.ParseTimestamp(r[3].GmtRefundPay); err != nil {
			t.Errorf("gmt_refund_pay %q asked with query_options: %v", r[3].GmtRefundPay, err)
		}
	})
	t.Run("over-refund", func(t *testing.T) {
		wantBizError(t, "refund of more than remains", r[4], alipay.SubRefundFeeErr)
	})
	t.Run("close", func(t *testing.T) {
		wantOK(t, "close", r[5])
		if r[5].OutTradeNo != open || r[5].TradeNo != openTradeNo {
			t.Errorf("close answer: %+v (trade_no %s)", r[5], openTradeNo)
		}
		wantOK(t, "query after close", r[6])
		if r[6].TradeStatus != localalipay.StatusClosed {
			t.Errorf("closed trade: %+v", r[6])
		}
	})
	t.Run("unknown trade", func(t *testing.T) {
		wantBizError(t, "query of an unknown trade", r[7], alipay.SubTradeNotExist)
	})
	t.Run("effects seen by Go", func(t *testing.T) {
		d, err := srv.Trade(ctx, paid)
		if err != nil {
			t.Fatal(err)
		}
		if d.RefundedAmount != "10.01" || len(d.Refunds) != 1 || d.Status != localalipay.StatusSuccess {
			t.Errorf("after Node's refunds: refunded %s, %d refunds, status %s", d.RefundedAmount, len(d.Refunds), d.Status)
		}
		q, err := cl.Query(ctx, open)
		if err != nil {
			t.Fatal(err)
		}
		if q.TradeStatus != localalipay.StatusClosed {
			t.Errorf("Go query after Node's close: %s", q.TradeStatus)
		}
	})
}

// TestNodeSDKValidateSignRejectsTampered is the negative control of the
// test above: with tampered signatures injected, validateSign:true throws,
// so the passing answers above were really verified.
func TestNodeSDKValidateSignRejectsTampered(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	if err := srv.SetFaults(localalipay.Faults{TamperSignRate: 1}); err != nil {
		t.Fatal(err)
	}
	r := runNodeSDK(t, srv.Credentials(), execStep(alipay.MethodQuery, map[string]any{"out_trade_no": "NODE-TAMPER"}))
	if r[0].Error == nil {
		t.Fatalf("validateSign accepted a tampered signature: %+v", r[0])
	}
	if !strings.Contains(r[0].Error.Message, "验签失败") {
		t.Errorf("error %s: %s, want 验签失败", r[0].Error.Name, r[0].Error.Message)
	}
}

// TestNodeSDKUTCTimestampRefused reproduces a common production mistake:
// the Node SDK on a UTC host stamps requests 8 hours behind Beijing time,
// and the gateway answers a signed 40002 isv.invalid-timestamp.
func TestNodeSDKUTCTimestampRefused(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	r := runNodeSDKInZone(t, srv.Credentials(), "UTC", execStep(alipay.MethodQuery, map[string]any{"out_trade_no": "NODE-UTC"}))
	if r[0].Error != nil {
		t.Fatalf("the Node SDK threw %s: %s (the error answer must be signed)", r[0].Error.Name, r[0].Error.Message)
	}
	if r[0].Code != "40002" || r[0].SubCode != "isv.invalid-timestamp" {
		t.Errorf("a UTC timestamp: code %q sub %q %q, want 40002 isv.invalid-timestamp", r[0].Code, r[0].SubCode, r[0].SubMsg)
	}
}

// capturedNotify is one POST received by a merchant's notify_url.
type capturedNotify struct {
	contentType string
	body        string
}

// newNotifyCapture is a notify_url that keeps the raw bodies and answers
// success.
func newNotifyCapture(t *testing.T) (*httptest.Server, <-chan capturedNotify) {
	t.Helper()
	ch := make(chan capturedNotify, 16)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- capturedNotify{r.Header.Get("Content-Type"), string(body)}
		io.WriteString(w, "success")
	}))
	t.Cleanup(s.Close)
	return s, ch
}

// TestNodeSDKCheckNotifySignV2 hands a real notification of the local
// Alipay, as the merchant received it, to the Node SDK's checkNotifySignV2.
func TestNodeSDKCheckNotifySignV2(t *testing.T) {
	ctx := ctxT(t)
	srv := startServer(t, localalipay.Options{})
	creds := srv.Credentials()
	notify, got := newNotifyCapture(t)
	cl := newClient(t, creds, func(c *alipay.Config) { c.NotifyURL = notify.URL + "/alipay/notify" })
	const otn = "NODE-NOTIFY-1"
	link, err := cl.PagePayURL(alipay.PayRequest{OutTradeNo: otn, TotalAmount: 1234, Subject: "通知 & node/测试"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.PayLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	var n capturedNotify
	select {
	case n = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s")
	}
	if !strings.HasPrefix(n.contentType, "application/x-www-form-urlencoded") {
		t.Errorf("notification Content-Type %q", n.contentType)
	}
	values, err := url.ParseQuery(n.body)
	if err != nil {
		t.Fatalf("notification body %q: %v", n.body, err)
	}
	form, err := alipay.FlattenForm(values)
	if err != nil {
		t.Fatal(err)
	}
	if form["out_trade_no"] != otn || form["total_amount"] != "12.34" || form["trade_status"] != localalipay.StatusSuccess {
		t.Fatalf("notification: %v", form)
	}
	tampered := map[string]string{}
	for k, v := range form {
		tampered[k] = v
	}
	tampered["total_amount"] = "0.01"

	r := runNodeSDK(t, creds,
		nodeStep{"op": "checkNotifySignV2", "form": form},
		nodeStep{"op": "checkNotifySignV2", "form": tampered},
	)
	for i, want := range []bool{true, false} {
		if r[i].Error != nil || r[i].OK == nil {
			t.Fatalf("step %d: %+v", i, r[i])
		}
		if *r[i].OK != want {
			t.Errorf("checkNotifySignV2 of the %s notification = %v, want %v",
				map[bool]string{true: "real", false: "tampered"}[want], *r[i].OK, want)
		}
	}
}

// TestNodeSDKPageExecuteOpensCashier opens Node-built page and wap links in
// the local cashier, pays them, and checks the trades with the Go client.
func TestNodeSDKPageExecuteOpensCashier(t *testing.T) {
	ctx := ctxT(t)
	srv := startServer(t, localalipay.Options{})
	creds := srv.Credentials()
	cl := newClient(t, creds, nil)
	const returnURL = "http://127.0.0.1:9/shop/return"
	notify, _ := newNotifyCapture(t)
	cases := []struct {
		method, product, otn string
	}{
		{alipay.MethodPagePay, alipay.ProductPagePay, "NODE-PAGE-1"},
		{alipay.MethodWapPay, alipay.ProductWapPay, "NODE-WAP-1"},
	}
	steps := make([]nodeStep, len(cases))
	for i, c := range cases {
		steps[i] = nodeStep{"op": "pageExecute", "method": c.method, "params": map[string]any{
			"bizContent": map[string]any{"outTradeNo": c.otn, "productCode": c.product,
				"totalAmount": "19.99", "subject": "测试 node"},
			"returnUrl": returnURL,
			"notifyUrl": notify.URL + "/notify",
		}}
	}
	r := runNodeSDK(t, creds, steps...)
	for i, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			link := r[i].URL
			if r[i].Error != nil || !strings.HasPrefix(link, creds.GatewayURL+"?") {
				t.Fatalf("pageExecute: %+v", r[i])
			}
			resp, err := http.Get(link)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `<form id="pay-form"`) ||
				!strings.Contains(string(page), c.otn) {
				t.Fatalf("the Node link did not open the cashier: HTTP %d\n%s", resp.StatusCode, page)
			}
			ret, err := localalipay.PayLink(ctx, link)
			if err != nil {
				t.Fatal(err)
			}
			ru, err := url.Parse(ret)
			if err != nil || !strings.HasPrefix(ret, returnURL+"?") {
				t.Fatalf("after paying, redirect to %q, want %s?…", ret, returnURL)
			}
			if err := cl.VerifyReturn(ru.Query()); err != nil {
				t.Errorf("return parameters: %v", err)
			}
			if m := ru.Query().Get("method"); m != c.method+".return" {
				t.Errorf("return method %q", m)
			}
			q, err := cl.Query(ctx, c.otn)
			if err != nil {
				t.Fatal(err)
			}
			if q.TradeStatus != localalipay.StatusSuccess || q.TotalAmount != "19.99" || q.OutTradeNo != c.otn {
				t.Errorf("Go query of the Node-made trade: %+v", q)
			}
			d, err := srv.Trade(ctx, c.otn)
			if err != nil {
				t.Fatal(err)
			}
			if d.Method != c.method || d.ProductCode != c.product || d.Subject != "测试 node" ||
				d.NotifyURL != notify.URL+"/notify" || d.ReturnURL != returnURL {
				t.Errorf("the trade did not keep what Node signed: %+v", d.TradeInfo)
			}
		})
	}
}
