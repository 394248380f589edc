package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// confirmRefund settles a refund answer without fund_change=Y. Such an
// answer only says that no money moved in the attempt that was answered; it
// cannot tell "this outRequestNo was never refunded" from "an earlier
// attempt whose answer was lost (20000, ACQ.SYSTEM_ERROR, a network error)
// refunded it, and the client's automatic retry hit the idempotent repeat".
// Reporting "no money moved" in the second case would invite a second
// refund under a new number. So the refund query decides: REFUND_SUCCESS of
// the same amount is a success for this outRequestNo; anything else is an
// error, never a success.
func confirmRefund(ctx context.Context, d Deps, r alipay.RefundRequest, rr *alipay.RefundResult, base Outcome) (*mcp.CallToolResult, Outcome) {
	base.Status = "tool_error"
	q, err := d.Client.QueryRefund(ctx, r.OutTradeNo, r.OutRequestNo)
	if err != nil {
		base.Code = "REFUND_NOT_CONFIRMED"
		return toolError(notConfirmed(r, rr.FundChange, fmt.Sprintf("确认用的退款查询失败 / the confirming refund query failed: %s", displayErr(err)))), base
	}
	if q.RefundStatus != alipay.RefundSuccess {
		base.Code = "REFUND_NOT_CONFIRMED"
		status := displayText(q.RefundStatus, 64)
		if status == "" {
			status = "无 / none"
		}
		return toolError(notConfirmed(r, rr.FundChange, fmt.Sprintf("退款查询没有显示成功 / the refund query shows no success (refund_status: %s).", status))), base
	}
	amt, perr := alipay.ParseAmount(q.RefundAmount)
	if perr != nil {
		base.Code = "REFUND_NOT_CONFIRMED"
		return toolError(notConfirmed(r, rr.FundChange, fmt.Sprintf("退款查询的 refund_amount %q 不是金额 / the refund query's refund_amount is not an amount.", displayText(q.RefundAmount, 32)))), base
	}
	if amt != r.RefundAmount {
		base.Code = "OUT_REQUEST_NO_USED"
		return numberUsed(r, amt), base
	}
	base.Status, base.Code = "ok", "CONFIRMED_BY_QUERY"
	return confirmedByQuery(d, r, q, rr.TradeNo, rr.RefundFee, "这笔钱只退过一次, 不会重复: 要么在本次调用的第一次尝试中 (其答复丢失后已自动用同一个 outRequestNo 重试), 要么在之前的某次调用中。"+
		"The money moved once and never twice: either in this call's first attempt (its answer was lost and the call was retried with the same outRequestNo) or in an earlier call."), base
}

// confirmedByQuery is the success of a refund that Alipay's refund query q
// shows done (REFUND_SUCCESS of r's amount); how says when the money moved.
// tradeNo and refundFee come from a refund answer, if there was one.
func confirmedByQuery(d Deps, r alipay.RefundRequest, q *alipay.RefundQuery, tradeNo, refundFee, how string) *mcp.CallToolResult {
	if tradeNo == "" {
		tradeNo = q.TradeNo
	}
	var b strings.Builder
	fmt.Fprintf(&b, "退款成功 / Refund succeeded: 退款请求号 %s 的 ¥%s 退款已完成 (支付宝退款查询确认 REFUND_SUCCESS)。"+
		"The refund of ¥%s under outRequestNo %s is done (confirmed by Alipay's refund query: REFUND_SUCCESS).\n",
		r.OutRequestNo, r.RefundAmount, r.RefundAmount, r.OutRequestNo)
	b.WriteString(how)
	b.WriteByte('\n')
	if q.GmtRefundPay != "" {
		fmt.Fprintf(&b, "- 退款时间 / refunded at: %s (北京时间 / Beijing time)\n", displayText(q.GmtRefundPay, 32))
	}
	refundFields(&b, d, r, tradeNo, refundFee)
	return success(refundOut{TradeNo: tradeNo, RefundResult: RefundResultSuccess}, b.String())
}

// numberUsed is the error for an outRequestNo that Alipay's refund query
// shows used for a refund of another amount, amt.
func numberUsed(r alipay.RefundRequest, amt alipay.Amount) *mcp.CallToolResult {
	return toolError(fmt.Sprintf("退款未执行 / Refund NOT made: 退款请求号 %s 已用于这笔订单上一笔 ¥%s 的退款, 不是本次请求的 ¥%s。"+
		"outRequestNo %s was already used on this order for a refund of ¥%s, not the ¥%s requested now; no money moved for this request.\n"+
		"怎么办 / What to do: 新的退款请用新的 outRequestNo; 之前那笔可用 query-alipay-refund 查看。"+
		"Use a new outRequestNo for a new refund; check the earlier one with query-alipay-refund.",
		r.OutRequestNo, amt, r.RefundAmount, r.OutRequestNo, amt, r.RefundAmount))
}

// notConfirmed is the error for a refund whose outcome is unknown.
func notConfirmed(r alipay.RefundRequest, fundChange, why string) string {
	fundChange = displayText(fundChange, 8)
	if fundChange == "" {
		fundChange = "(空 / empty)"
	}
	return fmt.Sprintf("退款结果未知, 未确认 / Refund outcome unknown, not confirmed: 支付宝答复本次没有资金变动 (fund_change=%s), "+
		"但无法确认退款请求号 %s 的 ¥%s 退款已经完成。"+
		"Alipay answered that no money moved in the answered attempt (fund_change=%s), but the refund of ¥%s under outRequestNo %s could not be confirmed.\n%s\n"+
		"怎么办 / What to do: 用同一个 outRequestNo 和同样金额重试 refund-alipay-payment (支付宝不会重复退款), 然后用 query-alipay-refund 确认; 不要换新的 outRequestNo。"+
		"Retry refund-alipay-payment with the SAME outRequestNo and amount (Alipay never refunds twice), then check with query-alipay-refund; do not switch to a new outRequestNo.",
		fundChange, r.OutRequestNo, r.RefundAmount, fundChange, r.RefundAmount, r.OutRequestNo, strings.TrimSpace(why))
}
