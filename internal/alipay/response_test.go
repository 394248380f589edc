package alipay

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// katR4 is KAT-R4 (notes §11.1): signed with app-private-key.pem.
const katR4 = `{"alipay_trade_query_response":{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","buyer_pay_amount":"0.00","invoice_amount":"0.00","out_trade_no":"T20240101001","point_amount":"0.00","receipt_amount":"0.00","total_amount":"88.88","trade_no":"2024010122001400000000000001","trade_status":"WAIT_BUYER_PAY","subject":"测试\/订单"},"sign":"d0ePWWv5rwlaAz8RIOLlZ+TjvEBckM6iZUSHWm+10gH7ExwyfOaeEfhGXGiNetxc1UZKRoZcI0n1qRaBuSJlpxdJ9ATcMUCKCeYY6R3YWE27geR+rUUe0R7VuzJBQMvE3ci0DafUk9iKfSjdL/hGR6YJXpLN8mxyWMVpotgtrRz8PkJ2rGFndfUx6fo8No5crdYgwmhmPaefvqRUBeJAGzzFNuDFwdCGjh5YEJBE1C2OvkeWOP900PEnXMxAjw52wir1B8cfN+tsFE5wAJ6ZUL7jiT8nxiBbrgxZlQoVN9FXYdIV9mdFj2+qvpXgMUm4LugZ4c73TH7K81PbZJPNxQ=="}`

const katR4Inner = `{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","buyer_pay_amount":"0.00","invoice_amount":"0.00","out_trade_no":"T20240101001","point_amount":"0.00","receipt_amount":"0.00","total_amount":"88.88","trade_no":"2024010122001400000000000001","trade_status":"WAIT_BUYER_PAY","subject":"测试\/订单"}`

func TestKATR4(t *testing.T) {
	pub, err := ParsePublicKey("test", mustRead(t, "app-public-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := ExtractResponse([]byte(katR4), MethodQuery)
	if err != nil {
		t.Fatal(err)
	}
	if env.Key != "alipay_trade_query_response" || string(env.Content) != katR4Inner {
		t.Fatalf("extracted %s %s", env.Key, env.Content)
	}
	if err := Verify(pub, RSA2, env.Content, env.Sign); err != nil {
		t.Fatalf("KAT-R4 does not verify: %v", err)
	}
	t.Run("re-marshalled bytes fail", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal(env.Content, &m); err != nil {
			t.Fatal(err)
		}
		re, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(re) == string(env.Content) {
			t.Fatal("re-marshalling did not change the bytes; the test proves nothing")
		}
		if err := Verify(pub, RSA2, re, env.Sign); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("re-marshalled content verified: %v", err)
		}
		unescaped := []byte(strings.ReplaceAll(string(env.Content), `\/`, "/"))
		if err := Verify(pub, RSA2, unescaped, env.Sign); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("content with \\/ unescaped verified: %v", err)
		}
	})
	t.Run("wrong key fails", func(t *testing.T) {
		if err := Verify(testAlipayPublic(t), RSA2, env.Content, env.Sign); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("verified with another key: %v", err)
		}
		if err := Verify(pub, RSA, env.Content, env.Sign); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("verified as RSA (SHA1): %v", err)
		}
	})
}

func TestExtractResponse(t *testing.T) {
	for _, tc := range []struct {
		name, body, method string
		key, content, sign string
		certSN             string
	}{
		{"compact", `{"alipay_trade_close_response":{"code":"10000","msg":"Success"},"sign":"abc"}`, MethodClose,
			"alipay_trade_close_response", `{"code":"10000","msg":"Success"}`, "abc", ""},
		{"whitespace kept inside, trimmed outside", " \r\n{ \"alipay_trade_close_response\" :\n {\"code\" : \"10000\",\n \"a\":\"b\\/c\"}  ,\n \"sign\" : \"abc\" }\n",
			MethodClose, "alipay_trade_close_response", "{\"code\" : \"10000\",\n \"a\":\"b\\/c\"}", "abc", ""},
		{"sign first", `{"sign":"abc","alipay_trade_close_response":{"code":"10000"}}`, MethodClose,
			"alipay_trade_close_response", `{"code":"10000"}`, "abc", ""},
		{"cert mode", `{"alipay_trade_close_response":{"code":"10000"},"alipay_cert_sn":"4538e7d736df316c15435d5f9d3a8a1f","sign":"abc"}`, MethodClose,
			"alipay_trade_close_response", `{"code":"10000"}`, "abc", "4538e7d736df316c15435d5f9d3a8a1f"},
		{"sign inside a value", `{"alipay_trade_query_response":{"code":"10000","subject":"{\"sign\":\"forged\"}","sign":"inner"},"sign":"outer"}`, MethodQuery,
			"alipay_trade_query_response", `{"code":"10000","subject":"{\"sign\":\"forged\"}","sign":"inner"}`, "outer", ""},
		{"error_response", `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"},"sign":"abc"}`, MethodQuery,
			"error_response", `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"}`, "abc", ""},
		{"unsigned", `{"alipay_trade_query_response":{"code":"40002","sub_code":"isv.invalid-app-id"}}`, MethodQuery,
			"alipay_trade_query_response", `{"code":"40002","sub_code":"isv.invalid-app-id"}`, "", ""},
		{"method key wins over error_response", `{"error_response":{"code":"1"},"alipay_trade_query_response":{"code":"2"},"sign":"s"}`, MethodQuery,
			"alipay_trade_query_response", `{"code":"2"}`, "s", ""},
		{"sign null", `{"alipay_trade_query_response":{"code":"40002"},"sign":null}`, MethodQuery,
			"alipay_trade_query_response", `{"code":"40002"}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ExtractResponse([]byte(tc.body), tc.method)
			if err != nil {
				t.Fatal(err)
			}
			if env.Key != tc.key || string(env.Content) != tc.content || env.Sign != tc.sign || env.CertSN != tc.certSN {
				t.Fatalf("got key=%q content=%q sign=%q sn=%q", env.Key, env.Content, env.Sign, env.CertSN)
			}
		})
	}
}

func TestExtractResponseRefused(t *testing.T) {
	for _, tc := range []struct {
		name, body, says string
	}{
		{"empty", "", "empty body"},
		{"spaces", " \n ", "empty body"},
		{"HTML", "<!DOCTYPE html><html><body>支付宝 - 网上支付 安全快速！</body></html>", "HTML page"},
		{"array", `[{"alipay_trade_query_response":{}}]`, "not a JSON object"},
		{"text", `success`, "not a JSON object"},
		{"truncated", `{"alipay_trade_query_response":{"code":"10000"`, "invalid JSON"},
		{"trailing brace", `{"alipay_trade_query_response":{"code":"10000"},"sign":"a"}}`, "trailing data"},
		{"trailing object", `{"alipay_trade_query_response":{"code":"10000"},"sign":"a"} {"x":1}`, "trailing data"},
		{"duplicate response key", `{"alipay_trade_query_response":{"code":"40004"},"alipay_trade_query_response":{"code":"10000"},"sign":"a"}`, "appears twice"},
		{"duplicate via escape", `{"alipay_trade_query_response":{"code":"40004"},"alipay\u005ftrade_query_response":{"code":"10000"},"sign":"a"}`, "appears twice"},
		{"duplicate sign", `{"alipay_trade_query_response":{"code":"10000"},"sign":"a","sign":"b"}`, "appears twice"},
		{"missing key", `{"alipay_trade_close_response":{"code":"10000"},"sign":"a"}`, "no \"alipay_trade_query_response\""},
		{"encrypted content", `{"alipay_trade_query_response":"4AOYHE0rpPnRnghunsGo+mY02DzANFLwNJJCiHfrNh2o","sign":"a"}`, "AES"},
		{"array content", `{"alipay_trade_query_response":[],"sign":"a"}`, "not a JSON object"},
		{"sign not a string", `{"alipay_trade_query_response":{"code":"10000"},"sign":42}`, "sign is not a string"},
		{"invalid value", `{"alipay_trade_query_response":{"code":10000,},"sign":"a"}`, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ExtractResponse([]byte(tc.body), MethodQuery)
			if err == nil {
				t.Fatalf("accepted: %+v", env)
			}
			if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q should wrap ErrMalformedResponse and say %q", err, tc.says)
			}
		})
	}
}

func TestResponseKey(t *testing.T) {
	for method, want := range map[string]string{
		MethodQuery:       "alipay_trade_query_response",
		MethodRefundQuery: "alipay_trade_fastpay_refund_query_response",
		MethodClose:       "alipay_trade_close_response",
	} {
		if got := ResponseKey(method); got != want {
			t.Errorf("ResponseKey(%s) = %s", method, got)
		}
	}
}
