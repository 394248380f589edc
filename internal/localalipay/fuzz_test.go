package localalipay_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// FuzzGateway throws arbitrary requests at the gateway: it must never
// panic or answer 500, and it must never answer 10000 or show a cashier to a
// request whose signature does not verify.
func FuzzGateway(f *testing.F) {
	srv := startServer(f, localalipay.Options{})
	c := srv.Credentials()
	appKey, _ := localKeys(f, c)
	const formCT = "application/x-www-form-urlencoded;charset=utf-8"
	query := form(signedParams(f, c, appKey, alipay.MethodQuery, `{"out_trade_no":"FZ1"}`, nil))
	page := form(signedParams(f, c, appKey, alipay.MethodPagePay,
		`{"out_trade_no":"FZ1","total_amount":"1.00","subject":"fuzz","product_code":"FAST_INSTANT_TRADE_PAY"}`, nil))
	refund := form(signedParams(f, c, appKey, alipay.MethodRefund, `{"out_trade_no":"FZ1","refund_amount":0.5,"out_request_no":"r"}`, nil))
	closeReq := form(signedParams(f, c, appKey, alipay.MethodClose, `{"trade_no":"x"}`, nil))
	rq := form(signedParams(f, c, appKey, alipay.MethodRefundQuery, `{"out_trade_no":"FZ1","out_request_no":"r","query_options":["gmt_refund_pay"]}`, nil))
	f.Add(true, "", formCT, query)
	f.Add(false, page, "", "")
	f.Add(true, "charset=utf-8", formCT, refund)
	f.Add(true, "", formCT, closeReq)
	f.Add(true, "", "", rq)
	f.Add(true, "method=alipay.trade.query", "multipart/form-data; boundary=x",
		"--x\r\nContent-Disposition: form-data; name=\"app_id\"\r\n\r\n"+c.AppID+"\r\n--x--\r\n")
	f.Add(false, "method=%zz&app_id=&&&=", "", "")
	f.Add(true, "", "text/plain", "biz_content=%7B&sign=%2B%2B")
	f.Add(true, "", formCT, strings.Replace(query, "FZ1", "FZ2", 1))
	h := srv.Handler()
	pub := &appKey.PublicKey
	f.Fuzz(func(t *testing.T, isPost bool, rawQuery, ctype, body string) {
		method := http.MethodGet
		if isPost {
			method = http.MethodPost
		}
		req, err := http.NewRequest(method, "http://127.0.0.1/gateway.do", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = rawQuery
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
		}
		out := rec.Body.Bytes()
		switch {
		case bytes.HasPrefix(out, []byte("{")):
			var env map[string]json.RawMessage
			if err := json.Unmarshal(out, &env); err != nil {
				t.Fatalf("answer is not JSON: %s", out)
			}
			for k, v := range env {
				if k == "sign" {
					continue
				}
				var st struct{ Code string }
				if err := json.Unmarshal(v, &st); err != nil || st.Code == "" {
					t.Fatalf("%s has no code: %s", k, out)
				}
				if st.Code == "10000" && !requestVerifies(method, rawQuery, ctype, body, pub) {
					t.Fatalf("10000 for a request that does not verify: %s", out)
				}
			}
		case bytes.Contains(out, []byte(`id="pay-form"`)):
			if !requestVerifies(method, rawQuery, ctype, body, pub) {
				t.Fatalf("cashier shown for a request that does not verify")
			}
		case bytes.Contains(out, []byte(`id="error-code"`)), bytes.Contains(out, []byte(`id="paid"`)):
		default:
			t.Fatalf("unexpected answer: %.300s", out)
		}
	})
}

// requestVerifies checks a request's signature independently of the
// gateway's parser.
func requestVerifies(method, rawQuery, ctype, body string, pub *rsa.PublicKey) bool {
	params := map[string]string{}
	add := func(v url.Values) bool {
		for k, vs := range v {
			for _, x := range vs {
				if old, ok := params[k]; ok && old != x {
					return false
				}
				params[k] = x
			}
		}
		return true
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil || !add(q) {
		return false
	}
	if method == http.MethodPost {
		req, _ := http.NewRequest(method, "http://127.0.0.1/", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if strings.HasPrefix(strings.ToLower(ctype), "multipart/form-data") {
			if err := req.ParseMultipartForm(1 << 20); err != nil || !add(req.MultipartForm.Value) {
				return false
			}
		} else {
			b, _ := io.ReadAll(req.Body)
			v, err := url.ParseQuery(string(b))
			if err != nil || !add(v) {
				return false
			}
		}
	}
	st := alipay.SignType(params["sign_type"])
	if st != alipay.RSA2 && st != alipay.RSA {
		return false
	}
	return alipay.Verify(pub, st, []byte(alipay.SignContent(params)), params["sign"]) == nil
}
