package tools

import (
	"context"
	"fmt"
	"sync"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// RefundHistory knows the refunds made on an order, so that a refund larger
// than what remains refundable is refused before the human is asked and
// before the refund API is called. The refund tool tells it of every refund
// request it is about to send (Sent) and asks it for the successful ones
// (Succeeded). A ledger that records refunds implements it from its own
// records; MemoryHistory implements it for a server without one.
//
// A history may know only some of an order's refunds (not those made in the
// merchant portal or by another process): what remains is then
// over-estimated, never under-estimated, so a refund it refuses is one
// Alipay would refuse too.
type RefundHistory interface {
	// Sent records that a refund request is about to be sent.
	Sent(ctx context.Context, outTradeNo, outRequestNo string, amount alipay.Amount) error
	// Succeeded returns the order's refunds known to have succeeded. An
	// error means the history cannot tell now; the refund is then refused
	// (fail closed), before the human is asked.
	Succeeded(ctx context.Context, outTradeNo string) ([]KnownRefund, error)
}

// KnownRefund is a successful refund of an order.
type KnownRefund struct {
	OutRequestNo string
	Amount       alipay.Amount
}

// RefundQuerier asks Alipay about one refund; *alipay.Client satisfies it.
type RefundQuerier interface {
	QueryRefund(ctx context.Context, outTradeNo, outRequestNo string) (*alipay.RefundQuery, error)
}

// Bounds of a MemoryHistory.
const (
	// DefaultHistoryOrders is how many orders a MemoryHistory remembers
	// when 0 is given; the oldest is forgotten first.
	DefaultHistoryOrders = 10000
	// maxRequestsPerOrder bounds the refund requests remembered per
	// order, and so the refund queries one check may make.
	maxRequestsPerOrder = 20
)

// MemoryHistory remembers, in this process, the refund requests this server
// sent, and learns which succeeded from Alipay's refund query
// (alipay.trade.fastpay.refund.query), each request asked at most once
// after it is known to have succeeded. Safe for concurrent use.
type MemoryHistory struct {
	q   RefundQuerier
	max int

	mu     sync.Mutex
	orders map[string]*orderRefunds
	fifo   []string
}

type orderRefunds struct {
	sent []string                 // outRequestNos, in the order sent
	done map[string]alipay.Amount // those Alipay confirmed: REFUND_SUCCESS is final
}

// NewMemoryHistory returns an empty history that asks q; maxOrders ≤ 0
// means DefaultHistoryOrders.
func NewMemoryHistory(q RefundQuerier, maxOrders int) *MemoryHistory {
	if maxOrders <= 0 {
		maxOrders = DefaultHistoryOrders
	}
	return &MemoryHistory{q: q, max: maxOrders, orders: map[string]*orderRefunds{}}
}

// Sent remembers outRequestNo for the order.
func (h *MemoryHistory) Sent(_ context.Context, outTradeNo, outRequestNo string, _ alipay.Amount) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.orders[outTradeNo]
	if o == nil {
		if len(h.fifo) >= h.max {
			delete(h.orders, h.fifo[0])
			h.fifo = h.fifo[1:]
		}
		o = &orderRefunds{done: map[string]alipay.Amount{}}
		h.orders[outTradeNo] = o
		h.fifo = append(h.fifo, outTradeNo)
	}
	for _, n := range o.sent {
		if n == outRequestNo {
			return nil
		}
	}
	if len(o.sent) >= maxRequestsPerOrder {
		o.sent = o.sent[1:]
	}
	o.sent = append(o.sent, outRequestNo)
	return nil
}

// Succeeded asks Alipay about each remembered request not yet known to have
// succeeded. Any failed query makes the answer unknown (an error).
func (h *MemoryHistory) Succeeded(ctx context.Context, outTradeNo string) ([]KnownRefund, error) {
	h.mu.Lock()
	o := h.orders[outTradeNo]
	var ask []string
	var known []KnownRefund
	if o != nil {
		for _, n := range o.sent {
			if a, ok := o.done[n]; ok {
				known = append(known, KnownRefund{OutRequestNo: n, Amount: a})
			} else {
				ask = append(ask, n)
			}
		}
	}
	h.mu.Unlock()
	for _, n := range ask {
		if h.q == nil {
			return nil, fmt.Errorf("no refund query to ask")
		}
		rq, err := h.q.QueryRefund(ctx, outTradeNo, n)
		if err != nil {
			return nil, err
		}
		if rq.RefundStatus != alipay.RefundSuccess {
			continue
		}
		a, err := alipay.ParseAmount(rq.RefundAmount)
		if err != nil {
			return nil, fmt.Errorf("refund %s: refund_amount %q: %w", n, rq.RefundAmount, err)
		}
		known = append(known, KnownRefund{OutRequestNo: n, Amount: a})
		h.mu.Lock()
		o.done[n] = a
		h.mu.Unlock()
	}
	return known, nil
}
