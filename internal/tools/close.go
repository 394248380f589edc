package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// closePayment is close-alipay-payment (alipay.trade.close). Closing stops
// an unpaid order from being paid; it never moves money, but it can stop a
// payment the merchant wanted, so it is destructive. Closing twice changes
// nothing more, so it is idempotent.
func closePayment(d Deps) ServerTool {
	t := define("closePay", NameClosePay, "关闭订单 / Close unpaid order",
		"Closes an unpaid Alipay order (alipay.trade.close) so that it can no longer be paid. A paid order cannot be closed: refund it with refund-alipay-payment. A link nobody has opened (or a QR code nobody has scanned) has no trade at Alipay yet and cannot be closed there: the result says so, and until when the link stays payable.",
		mcp.ToolAnnotations{
			ReadOnlyHint:    false,
			DestructiveHint: boolPtr(true),
			IdempotentHint:  true,
			OpenWorldHint:   boolPtr(true),
		}, runClose(d))
	t.OptIn = true
	return t
}

type closeOut struct {
	Closed       bool   `json:"closed"`
	TradeStatus  string `json:"tradeStatus"`
	PayableUntil string `json:"payableUntil,omitempty"`
}

func runClose(d Deps) run {
	return func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome) {
		no := a.text("outTradeNo")
		ok := Outcome{Status: "ok", OutTradeNo: no}
		_, err := d.Client.Close(ctx, no)
		now := time.Now()
		switch {
		case err == nil:
			d.rememberClose(ctx, no, now, time.Time{})
			return success(closeOut{Closed: true, TradeStatus: alipay.TradeClosed}, closedText(d, no, false)), ok
		case alipay.IsSubCode(err, alipay.SubTradeNotExist):
			// Alipay has nothing to close: the ledger's record is the
			// close (no new link for the order; watched until its link
			// expires, across restarts and replicas). Unrecorded, it
			// would be no close at all, so a ledger failure fails it.
			c := d.closeOf(ctx, no)
			if d.Ledger != nil {
				o, lerr := d.Ledger.MarkClosed(ctx, no, now, whoOf(ctx))
				if lerr != nil {
					return notDoneLedger("未关闭 / Nothing was closed: ", lerr, Outcome{OutTradeNo: no})
				}
				now = o.ClosedAt
				if !o.PayableUntil.IsZero() {
					c.payableUntil = o.PayableUntil
				}
			}
			return notOpenedClose(d, no, now, c.payableUntil), Outcome{Status: "ok", OutTradeNo: no, Code: alipay.SubTradeNotExist}
		case alipay.IsSubCode(err, alipay.SubTradeStatusError):
			// Paid, or closed already: the query tells which.
			q, qerr := d.Client.Query(ctx, no)
			if qerr != nil {
				return alipayError(opClose, err, Outcome{OutTradeNo: no})
			}
			switch {
			case alipay.Paid(q.TradeStatus):
				return paidCannotClose(d, no, q), Outcome{Status: "refused", OutTradeNo: no, Code: "TRADE_PAID"}
			case q.TradeStatus == alipay.TradeClosed:
				// Closed before (by us, by its expiry, or by a full
				// refund, which also shows TRADE_CLOSED): not a close
				// of ours to record.
				if d.Watcher != nil {
					d.Watcher.MarkClosed(no, now, time.Time{})
				}
				return success(closeOut{Closed: true, TradeStatus: alipay.TradeClosed}, closedText(d, no, true)), ok
			}
		}
		return alipayError(opClose, err, Outcome{OutTradeNo: no})
	}
}

// rememberClose records a close of a trade Alipay closed, in the ledger
// (best effort: Alipay's closed trade refuses new links itself) and with
// the watcher, so that a payment that still gets through is an alert; it
// watches the order until until (zero: the watcher's default, enough to see
// a closed trade once).
func (d Deps) rememberClose(ctx context.Context, no string, at, until time.Time) {
	if d.Ledger != nil {
		_, _ = d.Ledger.MarkClosed(ctx, no, at, whoOf(ctx))
	}
	if d.Watcher != nil {
		d.Watcher.MarkClosed(no, at, until)
	}
}

func closedText(d Deps, no string, already bool) string {
	var b strings.Builder
	if already {
		fmt.Fprintf(&b, "订单 %s 已经是关闭状态, 不能再付款。Order %s was already closed; it cannot be paid.", no, no)
	} else {
		fmt.Fprintf(&b, "已关闭订单 %s: 支付宝的交易已关闭, 不能再付款。Closed order %s: Alipay's trade is closed and can no longer be paid.", no, no)
	}
	b.WriteString("\n(一笔全额退款后的订单也显示为 TRADE_CLOSED; 用 query-alipay-payment 可以查看。A fully refunded order shows TRADE_CLOSED too; query-alipay-payment tells them apart.)")
	if d.Local {
		b.WriteString(localNote)
	}
	return b.String()
}

// notOpenedClose answers a close of an order Alipay has no trade for yet:
// nothing was closed, and the text says how long the link stays payable
// and what this server does about it.
func notOpenedClose(d Deps, no string, now, until time.Time) *mcp.CallToolResult {
	known := !until.IsZero()
	out := closeOut{Closed: false, TradeStatus: paywatch.NotOpened}
	var b strings.Builder
	fmt.Fprintf(&b, "支付宝还没有订单 %s 的交易 (ACQ.TRADE_NOT_EXIST): 买家还没打开支付链接或扫二维码, 所以支付宝没有可以关闭的交易, 什么都没有关闭。\n", no)
	fmt.Fprintf(&b, "Alipay has no trade for order %s yet (ACQ.TRADE_NOT_EXIST): the buyer has not opened the payment link or scanned the QR code, so there was nothing to close at Alipay, and nothing was closed.\n", no)
	switch {
	case known && until.After(now):
		out.PayableUntil = alipay.FormatTimestamp(until)
		fmt.Fprintf(&b, "- 链接或二维码在 %s (北京时间) 之前仍然可以付款, 之后自动失效。The link or QR code can still be paid until %s (Beijing time), when it expires.\n", out.PayableUntil, out.PayableUntil)
	case known:
		b.WriteString("- 这个订单的链接或二维码已经过期, 不能再付款。The order's link or QR code has expired and can no longer be paid.\n")
	default:
		b.WriteString("- 这个订单的链接不是本服务器 (本次运行) 创建的, 无法知道它何时过期; 没有设有效期的链接在支付宝最长可付款 15 天。The link was not made by this server (in this run), so its expiry is unknown; a link without one stays payable at Alipay for up to 15 days.\n")
	}
	if d.Watcher != nil {
		watchUntil := until
		if !known || !until.After(now) {
			watchUntil = time.Time{} // the watcher's default
		} else {
			watchUntil = until.Add(time.Minute)
		}
		if d.Watcher != nil {
			d.Watcher.MarkClosed(no, now, watchUntil)
		}
		b.WriteString("- 本服务器记下了这次关闭并继续关注这笔订单: 买家一打开链接就立即关闭交易; 如果买家抢先付了款, 会作为警报报告 (日志, 以及 wait-alipay-payment 的结果), 请退款。" +
			"This server remembers the close and keeps watching the order: as soon as the buyer opens the link, it closes the trade; a payment that gets through first is reported as an alert (in the log, and in wait-alipay-payment's result): refund it.\n")
	} else {
		if d.Ledger != nil {
			b.WriteString("- 本服务器在账本中记下了这次关闭: 不会再为这个 outTradeNo 创建链接或二维码。This server recorded the close in its ledger: it will make no new link or QR code for this outTradeNo.\n")
		}
		b.WriteString("- 本服务器没有关注订单 (AP_WATCH_PAYMENTS=false 或未选 queryPay): 之后请用 query-alipay-payment 查看; 若买家付了款, 用 refund-alipay-payment 退款。" +
			"This server is not watching orders (AP_WATCH_PAYMENTS=false, or queryPay not selected): check later with query-alipay-payment, and refund with refund-alipay-payment if the buyer paid.\n")
	}
	b.WriteString("不要把这个链接或二维码再发给买家。Do not give this link or QR code to the buyer again.")
	if d.Local {
		b.WriteString(localNote)
	}
	return success(out, b.String())
}

// paidCannotClose is the error for a close of a paid order.
func paidCannotClose(d Deps, no string, q *alipay.TradeQuery) *mcp.CallToolResult {
	var b strings.Builder
	fmt.Fprintf(&b, "订单 %s 已付款 (%s), 已付款的订单不能关闭, 未做任何改动。Order %s is paid (%s); a paid order cannot be closed, and nothing was changed.\n", no, displayText(q.TradeStatus, 64), no, displayText(q.TradeStatus, 64))
	if q.TotalAmount != "" {
		fmt.Fprintf(&b, "- 金额 / amount: ¥%s\n", displayText(q.TotalAmount, 32))
	}
	if q.TradeNo != "" {
		fmt.Fprintf(&b, "- 支付宝交易号 / tradeNo: %s\n", displayText(q.TradeNo, 64))
	}
	b.WriteString("怎么办 / What to do: 要把钱退给买家, 先和用户确认, 再用 refund-alipay-payment (outTradeNo、金额、新的 outRequestNo)。" +
		"To give the money back, confirm with the user, then call refund-alipay-payment (outTradeNo, amount, a new outRequestNo).")
	if d.Local {
		b.WriteString(localNote)
	}
	return toolError(b.String())
}
