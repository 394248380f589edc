package alipay

import (
	"context"
	"testing"
)

// BenchmarkPagePayURL: building and signing a desktop payment link (RSA2,
// 2048-bit key).
func BenchmarkPagePayURL(b *testing.B) {
	c := linkClient(b, func(cfg *Config) {
		cfg.ReturnURL = "https://shop.example/return"
		cfg.NotifyURL = "https://shop.example/notify"
	})
	req := PayRequest{OutTradeNo: "T20240101001", TotalAmount: 1999, Subject: "测试商品", TimeoutExpress: "30m"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.PagePayURL(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyResponse: extracting the exact response bytes of a signed
// gateway answer and verifying them (the work of every server call).
func BenchmarkVerifyResponse(b *testing.B) {
	body := []byte(signedBody(b, testAlipayKey(b), ResponseKey(MethodQuery), successInner))
	pub := testAlipayPublic(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		env, err := ExtractResponse(body, MethodQuery)
		if err != nil {
			b.Fatal(err)
		}
		if err := Verify(pub, RSA2, env.Content, env.Sign); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeResponse: the client's whole decode path (extract, verify,
// status, unmarshal into TradeQuery).
func BenchmarkDecodeResponse(b *testing.B) {
	body := []byte(signedBody(b, testAlipayKey(b), ResponseKey(MethodQuery), successInner))
	c := &Client{cfg: Config{AlipayPublicKey: testAlipayPublic(b), SignType: RSA2}}
	b.ReportAllocs()
	for b.Loop() {
		var out TradeQuery
		if err := c.decode(context.Background(), MethodQuery, body, "", binding{}, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtractResponse: the extraction alone, without RSA.
func BenchmarkExtractResponse(b *testing.B) {
	body := []byte(signedBody(b, testAlipayKey(b), ResponseKey(MethodQuery), successInner))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ExtractResponse(body, MethodQuery); err != nil {
			b.Fatal(err)
		}
	}
}
