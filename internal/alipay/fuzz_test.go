package alipay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// ratFen is an independent oracle: the exact value of a decimal in fen, or
// false when it is not a plain decimal.
func ratFen(s string) (*big.Rat, bool) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return nil, false
	}
	return r.Mul(r, big.NewRat(100, 1)), true
}

func checkAcceptedAmount(t *testing.T, text string, a Amount) {
	t.Helper()
	if a < MinAmount || a > MaxAmount {
		t.Fatalf("%q accepted as %d fen, outside the range", text, a)
	}
	want, ok := ratFen(text)
	if !ok {
		t.Fatalf("%q accepted as %d fen, but it is not a decimal", text, a)
	}
	if !want.IsInt() || want.Num().Int64() != int64(a) {
		t.Fatalf("%q accepted as %d fen, exact value is %s fen", text, a, want.RatString())
	}
	if back, err := ParseAmount(a.String()); err != nil || back != a {
		t.Fatalf("round trip of %d via %q: %d, %v", a, a.String(), back, err)
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"19.99", "0.1", "0.07", "0.29", "100000000", "100000000.01", "0.001", "0", "-1",
		"abc", "", "1e-3", "1e2", "1.5E1", "NaN", "Inf", " 7 ", "007.50", ".5", "5.", "+1", "1e+2", "0x10", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			if !errors.Is(err, ErrAmount) {
				t.Fatalf("error does not wrap ErrAmount: %v", err)
			}
			return
		}
		checkAcceptedAmount(t, s, a)
	})
}

func FuzzAmountFromJSON(f *testing.F) {
	for _, s := range []string{`19.99`, `"19.99"`, `0.07`, `"0.1"`, `0.29`, `100000000`, `100000000.01`, `0.001`, `0`,
		`-1`, `"abc"`, `""`, `"1e-3"`, `null`, `true`, `{}`, `[]`, `"\u0031"`, `1e2`, `"19.99"x`, `NaN`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := AmountFromJSON(raw)
		if err != nil {
			if !errors.Is(err, ErrAmount) {
				t.Fatalf("error does not wrap ErrAmount: %v", err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		var text string
		switch x := v.(type) {
		case string:
			text = x
		case json.Number:
			text = x.String()
		default:
			t.Fatalf("accepted a JSON %T: %q", v, raw)
		}
		checkAcceptedAmount(t, text, a)
	})
}

func keySeeds(f *testing.F) {
	for _, file := range []string{"app-private-key.pem", "app-private-key-pkcs8.pem", "app-private-key-no-wrapper.pem",
		"app-private-key-pkcs8-no-wrapper.pem", "app-public-key.pem", "app-public-key-no-wrapper.pem"} {
		s := mustRead(f, file)
		f.Add(s)
		f.Add(strings.ReplaceAll(strings.TrimSpace(s), "\n", `\n`))
		f.Add(`"` + strings.ReplaceAll(s, "\n", " ") + `"`)
		f.Add(s[:len(s)/2])
	}
	for _, s := range []string{"", "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
		"MIIB", "====", `\\n`, "'\"'"} {
		f.Add(s)
	}
}

func FuzzParsePrivateKey(f *testing.F) {
	keySeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePrivateKey("AP_APP_KEY", s)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Setting != "AP_APP_KEY" {
				t.Fatalf("not a KeyError for AP_APP_KEY: %v", err)
			}
			return
		}
		if k.N.BitLen() < 1024 || k.Validate() != nil {
			t.Fatalf("accepted an unusable key (%d bits)", k.N.BitLen())
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	keySeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey("AP_PUB_KEY", s)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Setting != "AP_PUB_KEY" {
				t.Fatalf("not a KeyError for AP_PUB_KEY: %v", err)
			}
			return
		}
		if k == nil || k.N == nil || k.N.Sign() <= 0 {
			t.Fatal("accepted a nil or empty key")
		}
	})
}

func responseSeeds(f *testing.F) {
	key := testAlipayKey(f)
	qk := ResponseKey(MethodQuery)
	for _, s := range []string{
		signedBody(f, key, qk, successInner),
		signedBody(f, key, qk, `{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS"}`),
		signedBody(f, key, qk, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}`),
		signedBody(f, key, "error_response", `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid"}`),
		signedBody(f, appKey(f), qk, successInner), // wrong key
		katR4,
		`{"` + qk + `":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}`,
		`{"` + qk + `":` + successInner + `}`,
		`{"` + qk + `":{"code":"10000"},"` + qk + `":{"code":"10000"},"sign":"x"}`,
		`{"` + qk + `":"4AOYHE0rpPnRnghunsGo","sign":"x"}`,
		`<html><body>error</body></html>`, ``, `{}`, `[]`, `{"sign":1}`, `{"` + qk + `":{}}}`,
	} {
		f.Add([]byte(s))
	}
}

func FuzzExtractResponse(f *testing.F) {
	responseSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := ExtractResponse(body, MethodQuery)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error does not wrap ErrMalformedResponse: %v", err)
			}
			return
		}
		if env.Key != ResponseKey(MethodQuery) && env.Key != "error_response" {
			t.Fatalf("key %q", env.Key)
		}
		if len(env.Content) == 0 || env.Content[0] != '{' || !json.Valid(env.Content) {
			t.Fatalf("content is not a JSON object: %q", env.Content)
		}
		if !bytes.Contains(body, env.Content) {
			t.Fatal("content is not a slice of the body's bytes")
		}
		if !json.Valid(bytes.TrimSpace(body)) {
			t.Fatalf("accepted an invalid body %q", body)
		}
	})
}

// FuzzDecode: the client's decode path returns success only for a body
// whose response object is signed by the Alipay key and says code 10000,
// checked here with crypto/rsa directly.
func FuzzDecode(f *testing.F) {
	responseSeeds(f)
	alipayPub := testAlipayPublic(f)
	c := &Client{cfg: Config{AlipayPublicKey: alipayPub, SignType: RSA2}}
	f.Fuzz(func(t *testing.T, body []byte) {
		var out TradeQuery
		e := c.decode(context.Background(), MethodQuery, body, "", binding{}, &out)
		if e != nil {
			if e.Method != MethodQuery {
				t.Fatalf("error without method: %v", e)
			}
			if e.Code == "10000" {
				t.Fatalf("an error carrying code 10000: %v", e)
			}
			return
		}
		// Success: prove it independently.
		env, err := ExtractResponse(body, MethodQuery)
		if err != nil {
			t.Fatalf("success on a body that does not extract: %v", err)
		}
		sig, err := base64.StdEncoding.DecodeString(env.Sign)
		if err != nil {
			t.Fatalf("success with a sign that is not base64: %q", env.Sign)
		}
		d := sha256.Sum256(env.Content)
		if err := rsa.VerifyPKCS1v15(alipayPub, crypto.SHA256, d[:], sig); err != nil {
			t.Fatalf("success on a body whose signature does not verify: %q", body)
		}
		var st struct {
			Code string `json:"code"`
		}
		if err := json.Unmarshal(env.Content, &st); err != nil || st.Code != "10000" {
			t.Fatalf("success on code %q", st.Code)
		}
	})
}
