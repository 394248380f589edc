package localalipay_test

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// TestConcurrentRefundsNeverOverRefund races refunds over HTTP: distinct
// numbers never exceed the total, one number never refunds twice.
func TestConcurrentRefundsNeverOverRefund(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	cl := payNew(t, srv, "", "CC1", 1000) // 10.00
	ctx := ctxT(t)

	t.Run("distinct out_request_no", func(t *testing.T) {
		const n = 16 // 16 × 1.00 against 10.00
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "CC1", RefundAmount: 100, OutRequestNo: fmt.Sprintf("D%d", i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case alipay.IsSubCode(err, alipay.SubRefundFeeErr), alipay.IsSubCode(err, alipay.SubTradeStatusError):
					refused++
				default:
					t.Errorf("refund %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if ok != 10 || refused != n-10 {
			t.Fatalf("%d refunds succeeded and %d were refused; want 10 and %d", ok, refused, n-10)
		}
		d, err := srv.Trade(ctx, "CC1")
		if err != nil {
			t.Fatal(err)
		}
		if d.RefundedAmount != "10.00" || len(d.Refunds) != 10 || d.Status != "TRADE_CLOSED" {
			t.Fatalf("after the race: refunded %s in %d refunds, status %s", d.RefundedAmount, len(d.Refunds), d.Status)
		}
	})

	t.Run("same out_request_no", func(t *testing.T) {
		cl := payNew(t, srv, "", "CC2", 1000)
		const n = 12
		var wg sync.WaitGroup
		var mu sync.Mutex
		changes := map[string]int{}
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "CC2", RefundAmount: 300, OutRequestNo: "SAME"})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("refund: %v", err)
					return
				}
				if res.RefundFee != "3.00" {
					t.Errorf("refund_fee %s", res.RefundFee)
				}
				changes[res.FundChange]++
			}()
		}
		wg.Wait()
		if changes["Y"] != 1 || changes["N"] != n-1 {
			t.Fatalf("fund_change counts %v; want exactly one Y", changes)
		}
	})
}

// TestTwoServersShareOneDataDir runs two servers on one data directory at
// once, as two MCP client windows would.
func TestTwoServersShareOneDataDir(t *testing.T) {
	dir := newDataDir(t)
	a := startServer(t, localalipay.Options{DataDir: dir})
	b := startServer(t, localalipay.Options{DataDir: dir})
	if a.URL() == b.URL() {
		t.Fatal("both on one address")
	}
	sink := newSink(t, nil)
	clA := newClient(t, a.Credentials(), func(c *alipay.Config) { c.NotifyURL = sink.URL })
	clB := newClient(t, b.Credentials(), nil)
	ctx := ctxT(t)
	link, err := clA.PagePayURL(alipay.PayRequest{OutTradeNo: "TS1", TotalAmount: 500, Subject: "two windows"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.OpenLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	if q, err := clB.Query(ctx, "TS1"); err != nil || q.TradeStatus != "WAIT_BUYER_PAY" {
		t.Fatalf("B does not see A's trade: %+v %v", q, err)
	}
	if _, err := b.PayTrade(ctx, "TS1"); err != nil {
		t.Fatal(err)
	}
	if q, err := clA.Query(ctx, "TS1"); err != nil || q.TradeStatus != "TRADE_SUCCESS" {
		t.Fatalf("A does not see B's payment: %+v %v", q, err)
	}
	first := sink.next(t)
	sink.none(t, 300e6) // both notifiers run; the attempt is sent once
	if first.Get("out_trade_no") != "TS1" {
		t.Fatalf("notification %v", first)
	}
	la, _ := a.Trades(ctx, 0)
	lb, _ := b.Trades(ctx, 0)
	if len(la) != 1 || len(lb) != 1 || la[0].TradeNo != lb[0].TradeNo {
		t.Fatalf("trade lists differ: %+v / %+v", la, lb)
	}
}

func TestStartOnATakenAddress(t *testing.T) {
	a := startServer(t, localalipay.Options{})
	addr := a.URL()[len("http://"):]
	_, err := localalipay.Start(ctxT(t), localalipay.Options{DataDir: newDataDir(t), Addr: addr})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("want EADDRINUSE, got %v", err)
	}
}

// TestConcurrentFirstStart starts two servers at once on an empty data
// directory: both must end up with the one identity on disk.
func TestConcurrentFirstStart(t *testing.T) {
	if testing.Short() {
		t.Skip("generates RSA keys")
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	creds := make([]localalipay.Credentials, 2)
	for i := range creds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := localalipay.Start(ctxT(t), localalipay.Options{DataDir: dir})
			if err != nil {
				t.Error(err)
				return
			}
			creds[i] = s.Credentials()
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if creds[0].AppID == "" || creds[0].AppID != creds[1].AppID || creds[0].AppPrivateKey != creds[1].AppPrivateKey ||
		creds[0].AlipayPublicKey != creds[1].AlipayPublicKey {
		t.Fatal("two first starts made two identities")
	}
}
