package localalipay_test

import (
	"errors"
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
