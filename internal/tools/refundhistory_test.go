package tools

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// TestRefundArithmeticBeforeAsking: ¥0.29 paid, ¥0.10 refunded by this
// server; a refund of ¥0.29 is refused before the user is asked and before
// the refund API is called, saying ¥0.19 remains. ¥0.19 then goes through,
// and a retry of the first refund is not counted against itself.
func TestRefundArithmeticBeforeAsking(t *testing.T) {
	d, _ := localDeps(t)
	u := &asker{answer: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, legacy)

	res := call(t, cs, NameWebPagePay, `{"outTradeNo":"ARITH-1","totalAmount":0.29,"orderTitle":"t"}`)
	wantOK(t, res)
	var link struct{ URL string }
	json.Unmarshal([]byte(structured(t, res)), &link)
	if _, err := localalipay.PayLink(context.Background(), link.URL); err != nil {
		t.Fatal(err)
	}
	wantOK(t, call(t, cs, NameRefundPay, `{"outTradeNo":"ARITH-1","refundAmount":0.10,"outRequestNo":"R1"}`))
	if n := len(u.asked()); n != 1 {
		t.Fatalf("asked %d times about the first refund", n)
	}

	res = call(t, cs, NameRefundPay, `{"outTradeNo":"ARITH-1","refundAmount":0.29,"outRequestNo":"R2"}`)
	wantError(t, res, "¥0.19", "remains refundable", "the user was not asked", "refund API was not called", "R1", "query-alipay-refund")
	if n := len(u.asked()); n != 1 {
		t.Errorf("the user was asked about a refund larger than what remains (%d questions)", n)
	}
	// The refund API was not called: Alipay knows no refund R2.
	wantError(t, call(t, cs, NameRefundQuery, `{"outTradeNo":"ARITH-1","outRequestNo":"R2"}`), "No refund found")

	// A retry of R1 is settled as R1, not refused as exceeding.
	res = call(t, cs, NameRefundPay, `{"outTradeNo":"ARITH-1","refundAmount":0.10,"outRequestNo":"R1"}`)
	wantOK(t, res)
	wantText(t, res, "already made by an earlier call")

	wantOK(t, call(t, cs, NameRefundPay, `{"outTradeNo":"ARITH-1","refundAmount":0.19,"outRequestNo":"R3"}`))
	res = call(t, cs, NameRefundPay, `{"outTradeNo":"ARITH-1","refundAmount":0.01,"outRequestNo":"R4"}`)
	wantError(t, res, "¥0.00", "remains refundable")
}

// TestRefundFeeErrorAdvice: when Alipay refuses an amount, the advice does
// not send the model to query-alipay-payment, which shows no refunds.
func TestRefundFeeErrorAdvice(t *testing.T) {
	d, _ := newDeps(t, paidTrade(fail("40004", "Business Failed", alipay.SubRefundFeeErr, "退款金额超限")))
	cs := connect(t, Options{Deps: d})
	res := call(t, cs, NameRefundPay, `{"outTradeNo":"ILL-9","refundAmount":50,"outRequestNo":"ILL-9-R1"}`)
	wantError(t, res, "query-alipay-refund", "but not its refunds")
	if strings.Contains(text(res), "Check the order with query-alipay-payment") {
		t.Errorf("advice still points at query-alipay-payment:\n%s", text(res))
	}
}

// fixedHistory is a RefundHistory as a ledger would give it: it knows the
// refunds without asking Alipay.
type fixedHistory struct {
	known []KnownRefund
	err   error
}

func (fixedHistory) Sent(context.Context, string, string, alipay.Amount) error { return nil }
func (h fixedHistory) Succeeded(context.Context, string) ([]KnownRefund, error) {
	return h.known, h.err
}

// TestRefundHistorySlotsIn: another RefundHistory (the ledger's, later)
// decides the arithmetic the same way, without refund queries.
func TestRefundHistorySlotsIn(t *testing.T) {
	d, g := newDeps(t, paidTrade(ok(moved)))
	d.History = fixedHistory{known: []KnownRefund{{OutRequestNo: "P1", Amount: 19900 - 100}}}
	cs := connect(t, Options{Deps: d})
	wantError(t, call(t, cs, NameRefundPay, `{"outTradeNo":"ILL-9","refundAmount":1.01,"outRequestNo":"R9"}`), "¥1.00", "P1")
	if got := strings.Join(g.methods(), ","); got != queried {
		t.Errorf("gateway calls %q, want only the trade query", got)
	}
	wantOK(t, call(t, cs, NameRefundPay, `{"outTradeNo":"ILL-9","refundAmount":1.00,"outRequestNo":"R9"}`))
}

// countingRefunds answers every refund query with REFUND_SUCCESS of ¥0.01
// and counts the queries.
type countingRefunds struct{ n int }

func (c *countingRefunds) QueryRefund(_ context.Context, no, reqNo string) (*alipay.RefundQuery, error) {
	c.n++
	return &alipay.RefundQuery{OutTradeNo: no, OutRequestNo: reqNo, RefundAmount: "0.01", RefundStatus: alipay.RefundSuccess}, nil
}

// TestMemoryHistoryBounds: a success is asked about once, each order keeps
// at most maxRequestsPerOrder requests, and the oldest order is forgotten
// first.
func TestMemoryHistoryBounds(t *testing.T) {
	ctx := context.Background()
	q := &countingRefunds{}
	h := NewMemoryHistory(q, 2)
	for i := range maxRequestsPerOrder + 5 {
		h.Sent(ctx, "A", "R"+strings.Repeat("x", i), 1)
	}
	h.Sent(ctx, "A", "R"+strings.Repeat("x", maxRequestsPerOrder+4), 1) // a repeat is remembered once
	known, err := h.Succeeded(ctx, "A")
	if err != nil || len(known) != maxRequestsPerOrder {
		t.Fatalf("%d known, %v; want %d", len(known), err, maxRequestsPerOrder)
	}
	if _, err := h.Succeeded(ctx, "A"); err != nil || q.n != maxRequestsPerOrder {
		t.Errorf("%d refund queries after two checks; a success is asked about once", q.n)
	}
	h.Sent(ctx, "B", "R1", 1)
	h.Sent(ctx, "C", "R1", 1)
	if known, _ := h.Succeeded(ctx, "A"); len(known) != 0 {
		t.Errorf("order A is still remembered beyond 2 orders: %v", known)
	}
	if known, _ := h.Succeeded(ctx, "C"); len(known) != 1 || known[0].Amount != 1 {
		t.Errorf("order C: %v", known)
	}
}

// TestRefundHistoryUnreadableFailsClosed: when the history of successful
// refunds cannot be read, what remains refundable is unknown: the refund is
// refused before the human is asked and before the refund API is called.
func TestRefundHistoryUnreadableFailsClosed(t *testing.T) {
	d, g := newDeps(t, paidTrade(ok(moved)))
	d.History = fixedHistory{err: errors.New("账本不可用 / ledger unavailable: database is locked")}
	u := &asker{answer: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, legacy)
	wantError(t, call(t, cs, NameRefundPay, `{"outTradeNo":"ILL-9","refundAmount":1.00,"outRequestNo":"R9"}`),
		"refund API was not called", "cannot be read", "SAME outRequestNo", "database is locked")
	if got := strings.Join(g.methods(), ","); got != queried {
		t.Errorf("gateway calls %q, want only the trade query", got)
	}
	if len(u.asked()) != 0 {
		t.Error("the human was asked although the history could not be read")
	}
}
