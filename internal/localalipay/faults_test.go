package localalipay_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

func TestFaultInjection(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	payNew(t, srv, "", "F1", 1000)
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.MaxAttempts = 1 })
	ctx := ctxT(t)
	cases := []struct {
		name  string
		f     localalipay.Faults
		check func(t *testing.T, err error)
	}{
		{"tampered signature", localalipay.Faults{TamperSignRate: 1}, func(t *testing.T, err error) {
			if !errors.Is(err, alipay.ErrBadSignature) {
				t.Fatalf("want a signature error, got %v", err)
			}
		}},
		{"unsigned success", localalipay.Faults{UnsignedRate: 1}, func(t *testing.T, err error) {
			if !errors.Is(err, alipay.ErrBadSignature) {
				t.Fatalf("want a signature error, got %v", err)
			}
		}},
		{"HTTP 502", localalipay.Faults{HTTP502Rate: 1}, func(t *testing.T, err error) {
			var ae *alipay.Error
			if !errors.As(err, &ae) || ae.HTTPStatus != 502 {
				t.Fatalf("want HTTP 502, got %v", err)
			}
		}},
		{"20000", localalipay.Faults{SystemErrorRate: 1}, func(t *testing.T, err error) {
			var ae *alipay.Error
			if !errors.As(err, &ae) || ae.Code != "20000" || ae.SubCode != "isp.unknow-error" || !ae.Retryable {
				t.Fatalf("want 20000, got %v", err)
			}
		}},
		{"ACQ.SYSTEM_ERROR", localalipay.Faults{SystemErrorRate: 1, SystemErrorKind: "acq"}, func(t *testing.T, err error) {
			if !alipay.IsSubCode(err, alipay.SubSystemError) {
				t.Fatalf("want ACQ.SYSTEM_ERROR, got %v", err)
			}
		}},
		{"other methods only", localalipay.Faults{HTTP502Rate: 1, Methods: []string{alipay.MethodRefund}}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("query is not filtered in: %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := srv.SetFaults(tc.f); err != nil {
				t.Fatal(err)
			}
			defer srv.ClearFaults()
			_, err := cl.Query(ctx, "F1")
			tc.check(t, err)
		})
	}
	if err := srv.SetFaults(localalipay.Faults{HTTP502Rate: 2}); err == nil {
		t.Error("a rate of 2 was accepted")
	}

	// A system error after the refund was applied: the client cannot know,
	// retries with the same out_request_no, and nothing is refunded twice.
	if err := srv.SetFaults(localalipay.Faults{SystemErrorRate: 1, SystemErrorAfterCommit: true, Methods: []string{alipay.MethodRefund}}); err != nil {
		t.Fatal(err)
	}
	_, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "F1", RefundAmount: 300, OutRequestNo: "LOST"})
	if err == nil {
		t.Fatal("want the injected error")
	}
	srv.ClearFaults()
	res, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "F1", RefundAmount: 300, OutRequestNo: "LOST"})
	if err != nil || res.FundChange != "N" || res.RefundFee != "3.00" {
		t.Fatalf("retry after a lost answer: %+v %v", res, err)
	}
}

// TestSystemErrorNext: the next N requests of the filtered methods get the
// system error, each using one up, whatever system_error_rate says.
func TestSystemErrorNext(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	payNew(t, srv, "", "SEN1", 1000)
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.MaxAttempts = 1 })
	ctx := ctxT(t)
	base := srv.URL() + "/_local"

	t.Run("lost refund answer", func(t *testing.T) {
		status, out := control(t, "POST", base+"/faults",
			`{"system_error_next":1,"system_error_after_commit":true,"methods":["alipay.trade.refund"]}`, nil)
		if status != 200 || out["system_error_next"] != float64(1) {
			t.Fatalf("HTTP %d %v", status, out)
		}
		if _, err := cl.Query(ctx, "SEN1"); err != nil {
			t.Fatalf("a filtered-out method got a fault: %v", err)
		}
		_, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "SEN1", RefundAmount: 200, OutRequestNo: "R1"})
		var ae *alipay.Error
		if !errors.As(err, &ae) || ae.Code != "20000" {
			t.Fatalf("first refund: want the injected 20000, got %v", err)
		}
		rq, err := cl.QueryRefund(ctx, "SEN1", "R1")
		if err != nil || rq.RefundStatus != "REFUND_SUCCESS" {
			t.Fatalf("the refund did not take effect: %+v %v", rq, err)
		}
		if _, out := control(t, "GET", base+"/faults", "", nil); out["system_error_next"] != nil {
			t.Fatalf("counter not used up: %v", out)
		}
		res, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "SEN1", RefundAmount: 200, OutRequestNo: "R1"})
		if err != nil || res.FundChange != "N" || res.RefundFee != "2.00" {
			t.Fatalf("retry: %+v %v", res, err)
		}
	})

	t.Run("before commit, acq kind", func(t *testing.T) {
		if err := srv.SetFaults(localalipay.Faults{SystemErrorNext: 2, SystemErrorKind: "acq", Methods: []string{alipay.MethodRefund}}); err != nil {
			t.Fatal(err)
		}
		defer srv.ClearFaults()
		for i := range 2 {
			_, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "SEN1", RefundAmount: 100, OutRequestNo: "R2"})
			if !alipay.IsSubCode(err, alipay.SubSystemError) {
				t.Fatalf("attempt %d: want ACQ.SYSTEM_ERROR, got %v", i+1, err)
			}
		}
		if rq, err := cl.QueryRefund(ctx, "SEN1", "R2"); err != nil || rq.RefundStatus != "" {
			t.Fatalf("a refund refused before commit took effect: %+v %v", rq, err)
		}
		res, err := cl.Refund(ctx, alipay.RefundRequest{OutTradeNo: "SEN1", RefundAmount: 100, OutRequestNo: "R2"})
		if err != nil || res.FundChange != "Y" || res.RefundFee != "3.00" {
			t.Fatalf("third attempt: %+v %v", res, err)
		}
	})

	t.Run("concurrent requests share the count", func(t *testing.T) {
		if err := srv.SetFaults(localalipay.Faults{SystemErrorNext: 3}); err != nil {
			t.Fatal(err)
		}
		defer srv.ClearFaults()
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := cl.Query(ctx, "SEN1"); err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n != 3 {
			t.Fatalf("%d requests failed, want 3", n)
		}
		if f := srv.Faults(); f.SystemErrorNext != 0 {
			t.Fatalf("remaining %d", f.SystemErrorNext)
		}
	})

	t.Run("range", func(t *testing.T) {
		for _, n := range []int{-1, 1001} {
			err := srv.SetFaults(localalipay.Faults{SystemErrorNext: n})
			if err == nil || !strings.Contains(err.Error(), "system_error_next") || !strings.Contains(err.Error(), "取值范围") {
				t.Errorf("system_error_next=%d: %v", n, err)
			}
		}
		if status, out := control(t, "POST", base+"/faults", `{"system_error_next":1001}`, nil); status != 400 {
			t.Errorf("HTTP %d %v", status, out)
		}
	})
}
