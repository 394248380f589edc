package localalipay_test

import (
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// signedParams are the common parameters of a request, signed with key.
func signedParams(t testing.TB, c localalipay.Credentials, key *rsa.PrivateKey, method, biz string, mod func(map[string]string)) map[string]string {
	t.Helper()
	p := map[string]string{
		"app_id": c.AppID, "method": method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
		"timestamp": alipay.FormatTimestamp(time.Now()), "version": "1.0", "biz_content": biz,
	}
	if mod != nil {
		mod(p)
	}
	st, err := alipay.ParseSignType(p["sign_type"])
	if err != nil {
		st = alipay.RSA2
	}
	sign, err := alipay.Sign(key, st, []byte(alipay.SignContent(p)))
	if err != nil {
		t.Fatal(err)
	}
	p["sign"] = sign
	return p
}

func form(p map[string]string) string {
	v := url.Values{}
	for k, x := range p {
		v.Set(k, x)
	}
	return v.Encode()
}

type rawAnswer struct {
	status int
	ctype  string
	body   []byte
	env    *alipay.Envelope
	st     struct{ Code, Msg, SubCode, SubMsg string }
}

func post(t testing.TB, gateway, query, ctype, body string, method string) rawAnswer {
	t.Helper()
	u := gateway
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := rawAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type")}
	a.body, _ = io.ReadAll(resp.Body)
	if a.env, err = alipay.ExtractResponse(a.body, method); err == nil {
		var st struct {
			Code    string `json:"code"`
			Msg     string `json:"msg"`
			SubCode string `json:"sub_code"`
			SubMsg  string `json:"sub_msg"`
		}
		_ = json.Unmarshal(a.env.Content, &st)
		a.st.Code, a.st.Msg, a.st.SubCode, a.st.SubMsg = st.Code, st.Msg, st.SubCode, st.SubMsg
	}
	return a
}

// TestGatewayRejectsBadInput sends malformed, unsigned, mis-signed and
// oversized requests: every answer is HTTP 200 with the real envelope.
func TestGatewayRejectsBadInput(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	c := srv.Credentials()
	appKey, pub := localKeys(t, c)
	const q = alipay.MethodQuery
	good := func(mod func(map[string]string)) map[string]string {
		return signedParams(t, c, appKey, q, `{"out_trade_no":"NOPE"}`, mod)
	}
	utc := func(p map[string]string) { p["timestamp"] = time.Now().UTC().Format(alipay.TimestampLayout) }
	tampered := good(nil)
	tampered["biz_content"] = `{"out_trade_no":"OTHER"}`
	big := good(nil)
	big["padding"] = strings.Repeat("x", localalipay.MaxBodyBytes)

	cases := []struct {
		name, query, ctype, body string
		method                   string // response key method
		code, sub                string
		signed                   bool
		subMsgHas                string
	}{
		{name: "missing method", body: "app_id=" + c.AppID, method: "x", code: "40001", sub: "isv.missing-method", signed: true},
		{name: "missing sign", body: form(without(good(nil), "sign")), method: q, code: "40001", sub: "isv.missing-signature", signed: true},
		{name: "missing timestamp", body: form(without(good(nil), "timestamp")), method: q, code: "40001", sub: "isv.missing-timestamp", signed: true},
		{name: "unknown app id is unsigned", body: form(good(func(p map[string]string) { p["app_id"] = "2021000122671080" })), method: q, code: "40002", sub: "isv.invalid-app-id"},
		{name: "unknown method", body: form(signedParams(t, c, appKey, "alipay.trade.nope", "{}", nil)), method: "error", code: "40002", sub: "isv.invalid-method", signed: true},
		{name: "bad sign type", body: form(good(func(p map[string]string) { p["sign_type"] = "MD5" })), method: q, code: "40002", sub: "isv.invalid-signature-type", signed: true},
		{name: "bad timestamp format", body: form(good(func(p map[string]string) { p["timestamp"] = "2024/01/01" })), method: q, code: "40002", sub: "isv.invalid-timestamp", signed: true},
		{name: "UTC timestamp is 8h off", body: form(good(utc)), method: q, code: "40002", sub: "isv.invalid-timestamp", signed: true},
		{name: "gbk charset", body: form(good(func(p map[string]string) { p["charset"] = "GBK" })), method: q, code: "40002", sub: "isv.invalid-charset", signed: true},
		{name: "tampered biz_content", body: form(tampered), method: q, code: "40002", sub: "isv.invalid-signature", signed: true,
			subMsgHas: "网关生成的验签字符串为：app_id=" + c.AppID + "&amp;biz_content={\"out_trade_no\":\"OTHER\"}&amp;charset=utf-8"},
		{name: "invalid biz_content JSON", body: form(signedParams(t, c, appKey, q, `{"out_trade_no":`, nil)), method: q, code: "40002", sub: "isv.invalid-parameter", signed: true,
			subMsgHas: "biz_content is not valid JSON"},
		{name: "biz_content not an object", body: form(signedParams(t, c, appKey, q, `[1,2]`, nil)), method: q, code: "40002", sub: "isv.invalid-parameter", signed: true,
			subMsgHas: "biz_content must be a JSON object"},
		{name: "biz_content null", body: form(signedParams(t, c, appKey, q, `null`, nil)), method: q, code: "40002", sub: "isv.invalid-parameter", signed: true,
			subMsgHas: "biz_content must be a JSON object"},
		{name: "biz_content with trailing data", body: form(signedParams(t, c, appKey, q, `{"out_trade_no":"A"} x`, nil)), method: q, code: "40002", sub: "isv.invalid-parameter", signed: true,
			subMsgHas: "biz_content is not valid JSON"},
		{name: "biz_content without the trade", body: form(signedParams(t, c, appKey, q, `{}`, nil)), method: q, code: "40004", sub: "ACQ.INVALID_PARAMETER", signed: true},
		{name: "bad refund amount", body: form(signedParams(t, c, appKey, alipay.MethodRefund, `{"out_trade_no":"A","refund_amount":"1.234"}`, nil)), method: alipay.MethodRefund, code: "40004", sub: "ACQ.INVALID_PARAMETER", signed: true},
		{name: "duplicate parameter", query: "method=" + q, body: form(good(func(p map[string]string) { p["method"] = alipay.MethodClose })), method: q, code: "40002", sub: "isv.invalid-parameter", signed: true},
		{name: "oversized body", body: form(big), method: q, code: "40002", sub: "isv.invalid-parameter", subMsgHas: "1 MiB"},
		{name: "malformed form", body: "method=" + q + "&app_id=%zz", method: q, code: "40002", sub: "isv.invalid-parameter"},
		{name: "unsupported content type", ctype: "application/json", query: "method=" + q, body: `{"a":1}`, method: q, code: "40002", sub: "isv.invalid-parameter"},
		{name: "valid request, unknown trade", body: form(good(nil)), method: q, code: "40004", sub: "ACQ.TRADE_NOT_EXIST", signed: true},
		{name: "RSA (SHA1) request", body: form(good(func(p map[string]string) { p["sign_type"] = "RSA" })), method: q, code: "40004", sub: "ACQ.TRADE_NOT_EXIST", signed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctype := tc.ctype
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded;charset=utf-8"
			}
			a := post(t, c.GatewayURL, tc.query, ctype, tc.body, tc.method)
			if a.status != http.StatusOK || a.ctype != "text/html;charset=utf-8" {
				t.Fatalf("HTTP %d %q: %s", a.status, a.ctype, a.body)
			}
			if a.env == nil {
				t.Fatalf("not an envelope: %s", a.body)
			}
			if a.st.Code != tc.code || a.st.SubCode != tc.sub || a.st.Msg == "" || a.st.SubMsg == "" {
				t.Fatalf("got %s %s (%s); want %s %s", a.st.Code, a.st.SubCode, a.st.SubMsg, tc.code, tc.sub)
			}
			if tc.subMsgHas != "" && !strings.Contains(a.st.SubMsg, tc.subMsgHas) {
				t.Errorf("sub_msg %q lacks %q", a.st.SubMsg, tc.subMsgHas)
			}
			for _, leak := range []string{"Go value", "Go struct", "localalipay.", "json: ", "bizContent"} {
				if strings.Contains(a.st.SubMsg, leak) {
					t.Errorf("sub_msg %q leaks Go internals (%q)", a.st.SubMsg, leak)
				}
			}
			if tc.signed != (a.env.Sign != "") {
				t.Fatalf("signed = %v, want %v: %s", a.env.Sign != "", tc.signed, a.body)
			}
			if a.env.Sign != "" {
				st := alipay.RSA2
				if strings.Contains(tc.name, "SHA1") {
					st = alipay.RSA
				}
				if err := alipay.Verify(pub, st, a.env.Content, a.env.Sign); err != nil {
					t.Fatalf("signature over the exact bytes does not verify: %v", err)
				}
			}
		})
	}
}

func without(p map[string]string, key string) map[string]string {
	delete(p, key)
	return p
}

// TestResponseBytes checks the exact shape: code and msg first, "/" as
// "\/", raw UTF-8, sign last, and the signed bytes are the inner object.
func TestResponseBytes(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	cl := newClient(t, srv.Credentials(), nil)
	link, err := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "RB1", TotalAmount: 1, Subject: "a/b 中文"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.OpenLink(ctxT(t), link); err != nil {
		t.Fatal(err)
	}
	appKey, _ := localKeys(t, srv.Credentials())
	a := post(t, srv.Credentials().GatewayURL, "", "application/x-www-form-urlencoded",
		form(signedParams(t, srv.Credentials(), appKey, alipay.MethodQuery, `{"out_trade_no":"RB1"}`, nil)), alipay.MethodQuery)
	body := string(a.body)
	if !strings.HasPrefix(body, `{"alipay_trade_query_response":{"code":"10000","msg":"Success",`) {
		t.Fatalf("prefix: %s", body)
	}
	if !strings.Contains(body, `},"sign":"`) || !strings.HasSuffix(body, `"}`) {
		t.Fatalf("sign is not last: %s", body)
	}
	if strings.Contains(string(a.env.Content), ": ") || strings.Contains(string(a.env.Content), ", ") {
		t.Errorf("not compact: %s", a.env.Content)
	}
	// A signature error echoes the sign string: "/" escaped, Chinese raw.
	p := signedParams(t, srv.Credentials(), appKey, alipay.MethodQuery, `{"out_trade_no":"中文"}`, func(p map[string]string) {
		p["notify_url"] = "http://127.0.0.1/n"
	})
	p["sign"] = strings.Repeat("A", 344)
	a = post(t, srv.Credentials().GatewayURL, "", "application/x-www-form-urlencoded", form(p), alipay.MethodQuery)
	if !strings.Contains(string(a.body), `notify_url=http:\/\/127.0.0.1\/n`) || !strings.Contains(string(a.body), `{\"out_trade_no\":\"中文\"}`) {
		t.Errorf("escaping: %s", a.body)
	}
}
