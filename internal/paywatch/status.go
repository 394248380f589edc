package paywatch

import (
	"context"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// NotOpened is the status of an order Alipay has no trade for yet: the buyer
// has not opened the payment link (alipay.trade.query answers
// ACQ.TRADE_NOT_EXIST), or the order number is wrong.
const NotOpened = "NOT_OPENED"

// Trade statuses of alipay.trade.query, as named in package alipay.
const (
	WaitBuyerPay  = alipay.TradeWaitBuyerPay
	TradeSuccess  = alipay.TradeSuccess
	TradeFinished = alipay.TradeFinished
	TradeClosed   = alipay.TradeClosed
)

// Terminal reports whether a watch stops at status: the order is paid
// (TRADE_SUCCESS, TRADE_FINISHED) or closed (TRADE_CLOSED).
func Terminal(status string) bool {
	return status == TradeSuccess || status == TradeFinished || status == TradeClosed
}

// Paid reports whether status means the buyer has paid.
func Paid(status string) bool { return alipay.Paid(status) }

// Querier looks up an order; *alipay.Client satisfies it.
type Querier interface {
	Query(ctx context.Context, outTradeNo string) (*alipay.TradeQuery, error)
}

// Change is a status of an order different from the one seen before; the
// first status a watch sees is a change too.
type Change struct {
	OutTradeNo string
	Status     string             // NotOpened or Alipay's trade_status
	Trade      *alipay.TradeQuery // Alipay's answer; nil when NotOpened
	Final      bool               // the status is terminal and the watch stops
	// ClosedAt is when the merchant asked to close the order (MarkClosed);
	// zero if never.
	ClosedAt time.Time
}

// PaidAfterClose reports a payment on an order the merchant had closed:
// the buyer paid a link that was still payable (the close found no trade
// yet), so the merchant should be told, and refund.
func (c Change) PaidAfterClose() bool { return !c.ClosedAt.IsZero() && Paid(c.Status) }

// Closer closes an unpaid trade; *alipay.Client satisfies it. A Querier
// that is also a Closer lets the watcher close an order the merchant closed
// before the buyer opened its link, as soon as the buyer opens it.
type Closer interface {
	Close(ctx context.Context, outTradeNo string) (*alipay.CloseResult, error)
}
