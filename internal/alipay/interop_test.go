package alipay

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
)

// nodeCase is one operation for interop/alipay-sdk.mjs.
type nodeCase map[string]any

// nodeResult is the script's answer to one case.
type nodeResult struct {
	Error             string            `json:"error"`
	Sign              string            `json:"sign"`
	Params            map[string]string `json:"params"`
	URL               string            `json:"url"`
	CheckNotifySignV2 *bool             `json:"checkNotifySignV2"`
	CheckNotifySign   any               `json:"checkNotifySign"`
	RSACheck          *bool             `json:"rsaCheck"`
	OK                *bool             `json:"ok"`
	Message           string            `json:"message"`
}

// runNode sends all cases to the official Node SDK in one process.
func runNode(t *testing.T, cases []nodeCase) []nodeResult {
	t.Helper()
	in, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	out := nodeinterop.Run(t, "alipay-sdk.mjs", in)
	var res struct {
		Results []nodeResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if len(res.Results) != len(cases) {
		t.Fatalf("node answered %d cases of %d", len(res.Results), len(cases))
	}
	for i, r := range res.Results {
		if r.Error != "" {
			t.Fatalf("node case %d (%v) failed: %s", i, cases[i]["op"], r.Error)
		}
	}
	return res.Results
}

// privateForms are the four encodings of the app key and the keyType the
// Node SDK needs for each.
var privateForms = []struct{ file, keyType string }{
	{"app-private-key.pem", "PKCS1"},
	{"app-private-key-no-wrapper.pem", "PKCS1"},
	{"app-private-key-pkcs8.pem", "PKCS8"},
	{"app-private-key-pkcs8-no-wrapper.pem", "PKCS8"},
}

var publicForms = []string{"app-public-key.pem", "app-public-key-no-wrapper.pem"}

// nodeSetByConfig are the parameters the Node signer takes from its config.
var nodeSetByConfig = []string{"app_id", "method", "charset", "version", "sign_type"}

// TestNodeSDKInterop checks Go against the official Alipay Node SDK: equal
// signatures for equal parameters, Go links accepted by Node's checks, Node
// links accepted by Go, in every key form on both sides.
func TestNodeSDKInterop(t *testing.T) {
	nodeinterop.Dir(t) // skip early without node (fail under CI)

	type signed struct {
		name   string
		params map[string]string
		link   string // "" for server calls
		form   int    // index in privateForms
		st     SignType
	}
	var all []signed
	for fi, form := range privateForms {
		key, err := ParsePrivateKey("AP_APP_KEY", mustRead(t, form.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []SignType{RSA2, RSA} {
			c := linkClient(t, func(cfg *Config) {
				cfg.PrivateKey = key
				cfg.SignType = st
				if fi == 1 {
					cfg.AppAuthToken = "202401BB0123456789"
				}
			})
			for _, call := range []struct {
				method string
				biz    any
			}{
				{MethodQuery, map[string]string{"out_trade_no": "T20240101001"}},
				{MethodRefund, struct {
					OutTradeNo   string `json:"out_trade_no"`
					RefundAmount string `json:"refund_amount"`
					OutRequestNo string `json:"out_request_no"`
					RefundReason string `json:"refund_reason"`
				}{"T20240101001", "0.07", "R-1", "退货 <1> & \"2\" 100%"}},
				{MethodRefundQuery, map[string]any{"out_trade_no": "T20240101001", "out_request_no": "R-1", "query_options": []string{"gmt_refund_pay"}}},
				{MethodClose, map[string]string{"out_trade_no": "T20240101001"}},
			} {
				biz, err := marshalBiz(call.biz)
				if err != nil {
					t.Fatal(err)
				}
				p, err := c.requestParams(call.method, biz, nil)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, signed{call.method, p, "", fi, st})
			}
			page, err := c.PagePayURL(PayRequest{OutTradeNo: "T20240101001", TotalAmount: 1999, Subject: "测试 <商品> & 服务 100%",
				TimeoutExpress: "30m", ReturnURL: "https://shop.example/return?a=1&b=2", NotifyURL: "https://shop.example/notify"})
			if err != nil {
				t.Fatal(err)
			}
			wap, err := c.WapPayURL(PayRequest{OutTradeNo: "T20240101002", TotalAmount: 7, Subject: "手机 支付",
				TimeExpire: "2024-01-01 12:30:00", QuitURL: "https://shop.example/quit", NotifyURL: "https://shop.example/notify"})
			if err != nil {
				t.Fatal(err)
			}
			for _, link := range []string{page, wap} {
				u, err := url.Parse(link)
				if err != nil {
					t.Fatal(err)
				}
				p, err := FlattenForm(u.Query())
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, signed{p["method"] + " link", p, link, fi, st})
			}
		}
	}

	var cases []nodeCase
	type check func(t *testing.T, r nodeResult)
	var checks []check
	var names []string
	add := func(name string, c nodeCase, f check) {
		names = append(names, name)
		cases = append(cases, c)
		checks = append(checks, f)
	}

	// (a) Node's own signer over the same parameters gives Go's signature.
	for _, s := range all {
		form := privateForms[s.form]
		params := map[string]string{}
		for k, v := range s.params {
			params[k] = v
		}
		for _, k := range append(nodeSetByConfig, "sign", "biz_content") {
			delete(params, k)
		}
		want := maps.Clone(s.params)
		delete(want, "sign")
		add(fmt.Sprintf("sign %s %s %s", s.name, form.file, s.st), nodeCase{
			"op": "sign", "privateKey": mustRead(t, form.file), "keyType": form.keyType, "signType": string(s.st),
			"method": s.params["method"], "params": params, "bizContent": json.RawMessage(s.params["biz_content"]),
		}, func(t *testing.T, r nodeResult) {
			if !maps.Equal(r.Params, want) {
				t.Errorf("parameter sets differ\n  go: %v\nnode: %v", want, r.Params)
			}
			if r.Sign != s.params["sign"] {
				t.Errorf("signatures differ\n  go: %s\nnode: %s", s.params["sign"], r.Sign)
			}
		})
	}

	// (b) Go links pass the Node SDK's signature checks, with the app public
	// key in both forms; a tampered link does not.
	for _, s := range all {
		if s.link == "" {
			continue
		}
		for _, pub := range publicForms {
			add(fmt.Sprintf("check %s %s %s", s.name, privateForms[s.form].file, pub), nodeCase{
				"op": "checkLink", "publicKey": mustRead(t, pub), "signType": string(s.st), "url": s.link,
				"content": SignContent(s.params),
			}, func(t *testing.T, r nodeResult) {
				if r.CheckNotifySignV2 == nil || !*r.CheckNotifySignV2 || r.RSACheck == nil || !*r.RSACheck {
					t.Errorf("Node rejected a Go link: checkNotifySignV2=%v rsaCheck=%v", deref(r.CheckNotifySignV2), deref(r.RSACheck))
				}
			})
		}
		tampered := strings.Replace(s.link, url.QueryEscape(`"total_amount":"`), url.QueryEscape(`"total_amount":"1`), 1)
		if tampered == s.link {
			t.Fatalf("could not tamper with %s", s.link)
		}
		add("tampered "+s.name, nodeCase{"op": "checkLink", "publicKey": mustRead(t, publicForms[0]), "signType": string(s.st), "url": tampered},
			func(t *testing.T, r nodeResult) {
				if r.CheckNotifySignV2 == nil || *r.CheckNotifySignV2 {
					t.Errorf("Node accepted a tampered link")
				}
			})
	}

	// Node's links (pageExecute, fixed timestamp) verify in Go, and Go's
	// signature over Node's parameter set is Node's.
	for _, form := range privateForms {
		for _, method := range []string{MethodPagePay, MethodWapPay} {
			add("pageExecute "+method+" "+form.file, nodeCase{
				"op": "pageExecute", "privateKey": mustRead(t, form.file), "keyType": form.keyType, "method": method,
				"params": map[string]any{
					"timestamp": "2024-01-01 12:00:00", "returnUrl": "https://shop.example/return", "notifyUrl": "https://shop.example/notify",
					"bizContent": map[string]any{"out_trade_no": "T20240101001", "total_amount": "19.99", "subject": "测试 a&b", "product_code": ProductWapPay},
				},
			}, func(t *testing.T, r nodeResult) {
				u, err := url.Parse(r.URL)
				if err != nil {
					t.Fatal(err)
				}
				p, err := FlattenForm(u.Query())
				if err != nil {
					t.Fatal(err)
				}
				if p["timestamp"] != "2024-01-01 12:00:00" || p["alipay_sdk"] == "" || p["method"] != method {
					t.Fatalf("unexpected Node link parameters %v", p)
				}
				key := appKey(t)
				if err := Verify(&key.PublicKey, RSA2, []byte(SignContent(p)), p["sign"]); err != nil {
					t.Errorf("Go rejects the Node link: %v", err)
				}
				if got, err := Sign(key, RSA2, []byte(SignContent(p))); err != nil || got != p["sign"] {
					t.Errorf("Go's signature over Node's parameters differs: %v", err)
				}
			})
		}
	}

	// A Go-signed notification (KAT-N3 semantics): checkNotifySignV2 accepts
	// it, the double-decoding checkNotifySign does not.
	notify := katN3Form("")
	np, err := FlattenForm(notify)
	if err != nil {
		t.Fatal(err)
	}
	nsign, err := Sign(appKey(t), RSA2, []byte(NotifySignContent(np)))
	if err != nil {
		t.Fatal(err)
	}
	np["sign"] = nsign
	for _, pub := range publicForms {
		add("notify "+pub, nodeCase{"op": "checkNotify", "publicKey": mustRead(t, pub), "form": np},
			func(t *testing.T, r nodeResult) {
				if r.CheckNotifySignV2 == nil || !*r.CheckNotifySignV2 {
					t.Errorf("checkNotifySignV2 rejected a Go-signed notification")
				}
				if r.CheckNotifySign != false {
					t.Errorf("checkNotifySign = %v, want false (passback_params double-decoding, KAT-N3)", r.CheckNotifySign)
				}
			})
	}
	bad := maps.Clone(np)
	bad["total_amount"] = "0.01"
	add("notify tampered", nodeCase{"op": "checkNotify", "publicKey": mustRead(t, publicForms[0]), "form": bad},
		func(t *testing.T, r nodeResult) {
			if r.CheckNotifySignV2 == nil || *r.CheckNotifySignV2 {
				t.Errorf("checkNotifySignV2 accepted a tampered notification")
			}
		})

	// Responses signed the way the fake gateway (and the local Alipay) sign
	// pass Node's checkResponseSign; KAT-R4 too.
	respKey := ResponseKey(MethodQuery)
	body := signedBody(t, testAlipayKey(t), respKey, successInner)
	for _, rc := range []struct {
		name, pub, body string
		ok              bool
	}{
		{"response", "test-alipay-public-key.pem", body, true},
		{"response KAT-R4", "app-public-key-no-wrapper.pem", katR4, true},
		{"response tampered", "test-alipay-public-key.pem", strings.Replace(body, "88.88", "88.89", 1), false},
		{"response wrong key", "app-public-key.pem", body, false},
	} {
		add(rc.name, nodeCase{"op": "checkResponse", "publicKey": mustRead(t, rc.pub), "body": rc.body, "responseKey": respKey},
			func(t *testing.T, r nodeResult) {
				if r.OK == nil || *r.OK != rc.ok {
					t.Errorf("Node checkResponseSign ok=%v, want %v (%s)", deref(r.OK), rc.ok, r.Message)
				}
			})
	}

	results := runNode(t, cases)
	for i, r := range results {
		t.Run(names[i], func(t *testing.T) { checks[i](t, r) })
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
