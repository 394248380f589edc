package paywatch

import (
	"context"

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
}
