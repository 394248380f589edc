package localalipay_test

import (
	"fmt"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// BenchmarkQuery is one verified alipay.trade.query round trip over HTTP:
// client signing, gateway verification, SQLite, response signing.
func BenchmarkQuery(b *testing.B) {
	srv := startServer(b, localalipay.Options{})
	cl := newClient(b, srv.Credentials(), nil)
	link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "BQ1", TotalAmount: 100, Subject: "bench"})
	if _, err := localalipay.PayLink(ctxT(b), link); err != nil {
		b.Fatal(err)
	}
	ctx := ctxT(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.Query(ctx, "BQ1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefund is one partial refund (a write transaction and a queued
// notification) per iteration.
func BenchmarkRefund(b *testing.B) {
	srv := startServer(b, localalipay.Options{})
	cl := newClient(b, srv.Credentials(), nil)
	link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: "BR1", TotalAmount: alipay.MaxAmount, Subject: "bench"})
	if _, err := localalipay.PayLink(ctxT(b), link); err != nil {
		b.Fatal(err)
	}
	ctx := ctxT(b)
	i := 0
	for b.Loop() {
		i++
		if _, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "BR1", RefundAmount: 1, OutRequestNo: fmt.Sprint("r", i)}); err != nil {
			b.Fatal(err)
		}
	}
}
