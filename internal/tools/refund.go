package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// RefundResultSuccess is refundResult when the refund under the call's
// outRequestNo is done: money moved in this call, or Alipay's refund query
// confirmed it moved once before (see confirmRefund). The output schema
// allows 64 characters.
const RefundResultSuccess = "退款成功 / refund succeeded"

// refundPayment is refund-alipay-payment (alipay.trade.refund).
func refundPayment(d Deps) ServerTool {
	t := define("refundPay", NameRefundPay, "退款 / Refund payment",
		"Refunds part or all of a paid Alipay order and returns the result. Each refund needs its own outRequestNo; retrying with the same outRequestNo never refunds twice. "+
			"退款原因中的换行以一个空格发给支付宝。 Line breaks in refundReason reach Alipay as one space.",
		// Money leaves the merchant: destructive. Keyed by outRequestNo,
		// Alipay makes a repeat a no-op: idempotent.
		mcp.ToolAnnotations{
			ReadOnlyHint:    false,
			DestructiveHint: boolPtr(true),
			IdempotentHint:  true,
			OpenWorldHint:   boolPtr(true),
		},
		runRefund(d))
	// The confirmation needs the request (client capabilities, input
	// responses, request state), which define's run does not see.
	validated := t.Handler
	t.Handler = func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, Outcome) {
		return validated(withCallRequest(ctx, req), req)
	}
	return t
}

type refundOut struct {
	TradeNo      string `json:"tradeNo"`
	RefundResult string `json:"refundResult"`
}

func runRefund(d Deps) run {
	return func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome) {
		r := alipay.RefundRequest{
			OutTradeNo:   a.text("outTradeNo"),
			RefundAmount: a.amount("refundAmount"),
			OutRequestNo: a.text("outRequestNo"),
			RefundReason: a.text("refundReason"),
		}
		base := Outcome{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo}
		if d.RefundMax > 0 && r.RefundAmount > d.RefundMax {
			base.Status, base.Code = "refused", "ABOVE_REFUND_MAX_AMOUNT"
			return toolError(fmt.Sprintf("退款被拒绝, 未调用支付宝 / Refund refused; Alipay was not called: ¥%s 超过单笔退款上限 ¥%s (AP_REFUND_MAX_AMOUNT). "+
				"The amount is above the per-refund cap set by AP_REFUND_MAX_AMOUNT.\n"+
				"怎么办 / What to do: 在支付宝商家平台手动退款, 或由管理员调高 AP_REFUND_MAX_AMOUNT。Refund it in the Alipay merchant portal, or have the operator raise AP_REFUND_MAX_AMOUNT.",
				r.RefundAmount, d.RefundMax)), base
		}
		q, res, code := precheck(ctx, d, r)
		if res != nil {
			base.Status, base.Code = "refused", code
			if code == alipay.SubTradeNotExist {
				base.Status, base.Code, base.SubCode = "tool_error", "40004", code
			}
			return res, base
		}
		// The last step before money moves: the human's confirmation, when
		// the client can ask (or AP_REFUND_CONFIRM=always demands it).
		if res, out := askRefund(ctx, d, r, q, base); res != nil {
			return res, out
		}
		rr, err := d.Client.Refund(ctx, r)
		if err != nil {
			return alipayError(opRefund, err, base)
		}
		if rr.TradeNo == "" {
			base.Status, base.Code = "tool_error", "INCOMPLETE_RESPONSE"
			return incomplete(alipay.MethodRefund, "trade_no is missing; the refund's outcome is unknown — check it with query-alipay-refund"), base
		}
		if rr.FundChange != "Y" {
			return confirmRefund(ctx, d, r, rr, base)
		}
		base.Status = "ok"
		return success(refundOut{TradeNo: rr.TradeNo, RefundResult: RefundResultSuccess}, refundText(d, r, rr)), base
	}
}

// precheck looks the trade up first so an impossible refund is refused with
// a clear reason. It only refuses on definite answers: no such trade, not
// paid yet, or more than the order's amount. Anything else (a network
// hiccup, a closed trade that may be a retry of a full refund) is left to
// Alipay, which checks again. The trade is returned when the query
// answered (the confirmation quotes it), nil otherwise.
func precheck(ctx context.Context, d Deps, r alipay.RefundRequest) (*alipay.TradeQuery, *mcp.CallToolResult, string) {
	q, err := d.Client.Query(ctx, r.OutTradeNo)
	if err != nil {
		if errors.Is(err, alipay.ErrAnswerMismatch) {
			return nil, mismatchRefused(err), "ANSWER_MISMATCH"
		}
		if alipay.IsSubCode(err, alipay.SubTradeNotExist) {
			res, _ := alipayError(opRefund, err, Outcome{})
			return nil, res, alipay.SubTradeNotExist
		}
		return nil, nil, ""
	}
	if q.TradeStatus == alipay.TradeWaitBuyerPay {
		return q, toolError("退款被拒绝, 未调用退款接口 / Refund refused; the refund API was not called: 买家还没有付款 (WAIT_BUYER_PAY), 没有可退的钱。" +
			"The buyer has not paid yet (WAIT_BUYER_PAY), so there is nothing to refund.\n" +
			"怎么办 / What to do: 等买家付款后再退款, 或不再需要时让订单超时关闭。Wait until the buyer pays, or let the unpaid order time out."), "NOT_PAID"
	}
	total, perr := alipay.ParseAmount(q.TotalAmount)
	if perr == nil && r.RefundAmount > total {
		return q, toolError(fmt.Sprintf("退款被拒绝, 未调用退款接口 / Refund refused; the refund API was not called: 退款金额 ¥%s 超过订单金额 ¥%s。"+
			"refundAmount ¥%s is more than the order's amount ¥%s.\n"+
			"怎么办 / What to do: 退款金额不能超过订单金额减去已退款金额。The refund can be at most the order amount minus earlier refunds.",
			r.RefundAmount, total, r.RefundAmount, total)), "REFUND_EXCEEDS_TOTAL"
	}
	return q, nil, ""
}

// mismatchRefused refuses a refund before the refund API is called because
// a check's answer was about another order or request: a gateway that
// misroutes answers cannot be trusted with this one either.
func mismatchRefused(err error) *mcp.CallToolResult {
	return toolError(fmt.Sprintf("退款被拒绝, 未调用退款接口 / Refund refused; the refund API was not called: "+
		"支付宝网关答复的是另一笔订单或请求, 答复未采用 / the gateway answered about something else, and its answer was NOT used: %v\n"+
		"怎么办 / What to do: %s", err, mismatchAdvice))
}

// refundText describes a refund whose answer said fund_change=Y.
func refundText(d Deps, r alipay.RefundRequest, rr *alipay.RefundResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "退款成功 / Refund succeeded: ¥%s 已退回买家 / returned to the buyer.\n", r.RefundAmount)
	refundFields(&b, d, r, rr.TradeNo, rr.RefundFee)
	return b.String()
}

// refundFields writes the ids, the amount and the advice shared by every
// successful refund text.
func refundFields(b *strings.Builder, d Deps, r alipay.RefundRequest, tradeNo, refundFee string) {
	fmt.Fprintf(b, "- 商户订单号 / outTradeNo: %s\n", r.OutTradeNo)
	fmt.Fprintf(b, "- 退款请求号 / outRequestNo: %s\n", r.OutRequestNo)
	fmt.Fprintf(b, "- 支付宝交易号 / tradeNo: %s\n", tradeNo)
	fmt.Fprintf(b, "- 退款金额 / refund amount: ¥%s\n", r.RefundAmount)
	if fee, err := alipay.ParseAmount(refundFee); err == nil {
		fmt.Fprintf(b, "- 这笔订单累计已退 / refunded on this order so far: ¥%s\n", fee)
	}
	b.WriteString("下一笔退款请使用新的 outRequestNo; 重试这一笔时用同一个。Use a new outRequestNo for the next refund; reuse this one only to retry this refund.")
	if d.Local {
		b.WriteString(localNote)
	}
}

// queryRefund is query-alipay-refund (alipay.trade.fastpay.refund.query).
func queryRefund(d Deps) ServerTool {
	return define("refundQuery", NameRefundQuery, "查询退款 / Query refund",
		"Looks up one refund of an Alipay order by outTradeNo and outRequestNo and returns its status and amount.",
		readOnlyAnnotations(), runRefundQuery(d))
}

type refundQueryOut struct {
	TradeNo      string        `json:"tradeNo"`
	RefundAmount alipay.Amount `json:"refundAmount"`
	RefundStatus string        `json:"refundStatus"`
}

func runRefundQuery(d Deps) run {
	return func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome) {
		no, reqNo := a.text("outTradeNo"), a.text("outRequestNo")
		base := Outcome{OutTradeNo: no, OutRequestNo: reqNo}
		q, err := d.Client.QueryRefund(ctx, no, reqNo)
		if err != nil {
			return alipayError(opRefundQuery, err, base)
		}
		if q.RefundStatus == "" {
			base.Status, base.Code = "tool_error", "REFUND_NOT_FOUND"
			return toolError(fmt.Sprintf("没有找到这笔退款 / No refund found: 订单 %s 上没有退款请求号为 %s 的成功退款 (未收到、失败或尚未处理完)。"+
				"Order %s has no successful refund with outRequestNo %s (not received, failed, or not processed yet).\n"+
				"怎么办 / What to do: 如果你发起过这笔退款但结果未知, 用同一个 outRequestNo 和同样金额重试 refund-alipay-payment (不会重复退款); 否则检查 outRequestNo。"+
				"If you made this refund and its outcome was unknown, retry refund-alipay-payment with the SAME outRequestNo and amount (it never refunds twice); otherwise check the outRequestNo.",
				no, reqNo, no, reqNo)), base
		}
		amt, problem := checkAnswer(q.TradeNo, q.RefundStatus, q.RefundAmount, "refund_amount")
		if problem != "" {
			base.Status, base.Code = "tool_error", "INCOMPLETE_RESPONSE"
			return incomplete(alipay.MethodRefundQuery, problem), base
		}
		var b strings.Builder
		b.WriteString("支付宝退款查询结果 / Alipay refund:\n")
		fmt.Fprintf(&b, "- 商户订单号 / outTradeNo: %s\n", no)
		fmt.Fprintf(&b, "- 退款请求号 / outRequestNo: %s\n", reqNo)
		fmt.Fprintf(&b, "- 支付宝交易号 / tradeNo: %s\n", q.TradeNo)
		fmt.Fprintf(&b, "- 退款金额 / refund amount: ¥%s\n", amt)
		if q.GmtRefundPay != "" {
			fmt.Fprintf(&b, "- 退款时间 / refunded at: %s (北京时间 / Beijing time)\n", q.GmtRefundPay)
		}
		fmt.Fprintf(&b, "- 状态 / status: %s — %s", q.RefundStatus, refundStatusMeaning(q.RefundStatus))
		if d.Local {
			b.WriteString(localNote)
		}
		base.Status = "ok"
		return success(refundQueryOut{TradeNo: q.TradeNo, RefundAmount: amt, RefundStatus: q.RefundStatus}, b.String()), base
	}
}

func refundStatusMeaning(s string) string {
	switch s {
	case alipay.RefundSuccess:
		return "退款成功, 钱已退回买家。Refunded: the money went back to the buyer."
	case "REFUND_PROCESSING":
		return "退款处理中, 稍后再查。Processing; query again later."
	case "REFUND_FAIL":
		return "退款失败; 可用同一个 outRequestNo 重试。Failed; it may be retried with the same outRequestNo."
	}
	return "未知状态, 请在支付宝商家平台核实。Unknown status; check it in the Alipay merchant portal."
}
