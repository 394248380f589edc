package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
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
		base := Outcome{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Amount: r.RefundAmount}
		if d.RefundMax > 0 && r.RefundAmount > d.RefundMax {
			base.Status, base.Code = "refused", "ABOVE_REFUND_MAX_AMOUNT"
			return toolError(fmt.Sprintf("退款被拒绝, 未调用支付宝 / Refund refused; Alipay was not called: ¥%s 超过单笔退款上限 ¥%s (AP_REFUND_MAX_AMOUNT). "+
				"The amount is above the per-refund cap set by AP_REFUND_MAX_AMOUNT.\n"+
				"怎么办 / What to do: 在支付宝商家平台手动退款, 或由管理员调高 AP_REFUND_MAX_AMOUNT。Refund it in the Alipay merchant portal, or have the operator raise AP_REFUND_MAX_AMOUNT.",
				r.RefundAmount, d.RefundMax)), base
		}
		// The checks before the question get part of the call's budget,
		// so that a stalling gateway leaves time for the refund itself.
		checks, cancel := context.WithTimeout(ctx, d.budget()*checksShare/10)
		defer cancel()
		// A refund sent before whose outcome is unknown (the process died,
		// or the answer was lost) is settled by a refund query first.
		if res, out := settleEarlier(checks, d, r, base); res != nil {
			return res, out
		}
		q, res, code := precheck(checks, d, r)
		if res != nil {
			base.Status, base.Code = "refused", code
			if code == alipay.SubTradeNotExist {
				base.Status, base.Code, base.SubCode = "tool_error", "40004", code
			}
			return res, base
		}
		if res, code := remainingCheck(checks, d, r, q); res != nil {
			base.Status, base.Code = "refused", code
			return res, base
		}
		// The ledger records the refund before the human is asked, and
		// holds the daily limit for every process sharing it.
		if res, out := reserveRefund(checks, d, r, q, base); res != nil {
			return res, out
		}
		// The last step before money moves: the human's confirmation, when
		// the client can ask (or AP_REFUND_CONFIRM=always demands it).
		res, out := askRefund(ctx, checks, d, r, q, base)
		recordAnswer(ctx, d, r, out)
		if res != nil {
			return res, out
		}
		cancel()
		// Not enough time left to wait for Alipay's answer (the user took
		// long to answer): do not send what could not be followed up.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d.budget()*minRefundShare/10 {
			base.Status, base.Code = "refused", "OUT_OF_TIME"
			recordAnswer(ctx, d, r, base)
			return toolError("退款未执行, 本次调用未调用退款接口 / Refund NOT made; this call did not call the refund API: " +
				"本次调用剩余的时间不够等待支付宝的答复。Too little of this call's time was left to wait for Alipay's answer.\n" +
				"怎么办 / What to do: 用同样的参数重新调用 refund-alipay-payment。Call refund-alipay-payment again with the same arguments. " + earlierCall), base
		}
		// Recorded as sent before it is sent: after a crash the ledger shows
		// it as unknown, never as not made.
		if d.Ledger != nil {
			if err := d.Ledger.Step(ctx, r.OutTradeNo, r.OutRequestNo, ledger.RefundSent, whoOf(ctx), ""); err != nil {
				return notDoneLedger(notMade, err, base)
			}
		}
		if d.History != nil {
			// Remembered before sending: a refund whose answer is lost
			// still counts in the next refund's arithmetic.
			_ = d.History.Sent(ctx, r.OutTradeNo, r.OutRequestNo, r.RefundAmount)
		}
		rr, err := d.Client.Refund(ctx, r)
		if err != nil {
			if notSent(err) {
				settle(ctx, d, r, ledger.OutcomeFailed, false, "not sent: "+errDetail(err))
				base.Status, base.Code = "refused", "NOT_SENT"
				return toolError(fmt.Sprintf("退款未执行, 退款请求没有发出 / Refund NOT made; the refund request was not sent: %s\n"+
					"怎么办 / What to do: 用同样的参数重新调用 refund-alipay-payment。Call refund-alipay-payment again with the same arguments. %s",
					displayErr(err), earlierCall)), base
			}
			settle(ctx, d, r, refundErrorOutcome(err), false, errDetail(err))
			return alipayError(opRefund, err, base)
		}
		if rr.TradeNo == "" {
			settle(ctx, d, r, ledger.OutcomeUnknown, false, "trade_no missing")
			base.Status, base.Code = "tool_error", "INCOMPLETE_RESPONSE"
			return incomplete(alipay.MethodRefund, "trade_no is missing; the refund's outcome is unknown — check it with query-alipay-refund"), base
		}
		if rr.FundChange != "Y" {
			res, out := confirmRefund(ctx, d, r, rr, base)
			switch out.Code {
			case "CONFIRMED_BY_QUERY":
				settle(ctx, d, r, ledger.OutcomeSucceeded, true, "fund_change="+rr.FundChange)
			case "OUT_REQUEST_NO_USED":
				settle(ctx, d, r, ledger.OutcomeFailed, true, "outRequestNo used for another amount")
			default:
				settle(ctx, d, r, ledger.OutcomeUnknown, false, "fund_change="+rr.FundChange)
			}
			return res, out
		}
		settle(ctx, d, r, ledger.OutcomeSucceeded, false, "fund_change=Y")
		base.Status = "ok"
		return success(refundOut{TradeNo: rr.TradeNo, RefundResult: RefundResultSuccess}, refundText(d, r, rr)), base
	}
}

// refundErrorOutcome: Alipay's definite refusal (40004 and a business
// sub_code other than a system error) means the refund did not happen;
// anything else (no answer, a system error) leaves it unknown.
func refundErrorOutcome(err error) string {
	var ae *alipay.Error
	if errors.As(err, &ae) && ae.Code == "40004" && ae.SubCode != "" && ae.SubCode != "ACQ.SYSTEM_ERROR" {
		return ledger.OutcomeFailed
	}
	return ledger.OutcomeUnknown
}

// errDetail is what the ledger keeps of a refund error: Alipay's codes, or
// that no answer came; never the error text, which may hold a URL.
func errDetail(err error) string {
	var ae *alipay.Error
	if errors.As(err, &ae) && ae.Code != "" {
		return "code=" + ae.Code + " sub_code=" + ae.SubCode
	}
	return "no answer"
}

// settle records a refund's outcome. Money may already have moved, so a
// ledger failure here cannot undo anything: the refund stays "sent" with
// an unknown outcome, and the next call under its outRequestNo settles it.
func settle(ctx context.Context, d Deps, r alipay.RefundRequest, outcome string, byQuery bool, detail string) {
	if d.Ledger == nil {
		return
	}
	_ = d.Ledger.Settle(ctx, r.OutTradeNo, r.OutRequestNo, outcome, byQuery, detail)
}

// settleEarlier settles, with a refund query, a refund the ledger shows as
// sent with an unknown outcome. When Alipay shows it done, that is the
// call's answer; otherwise the call goes on (the same outRequestNo never
// refunds twice).
func settleEarlier(ctx context.Context, d Deps, r alipay.RefundRequest, base Outcome) (*mcp.CallToolResult, Outcome) {
	if d.Ledger == nil {
		return nil, base
	}
	prev, err := d.Ledger.Refund(ctx, r.OutTradeNo, r.OutRequestNo)
	if err != nil || !prev.Unsettled() || prev.Amount != r.RefundAmount {
		return nil, base
	}
	res, out := alreadyRefunded(ctx, d, r, base)
	if out.Code == "CONFIRMED_BY_QUERY" {
		settle(ctx, d, r, ledger.OutcomeSucceeded, true, "settled by refund query after an unknown outcome")
	}
	return res, out
}

// reserveRefund records the refund in the ledger before the human is
// asked, refusing it when it is more than remains refundable or passes
// AP_REFUND_DAILY_LIMIT. A ledger that cannot record it refuses it too.
func reserveRefund(ctx context.Context, d Deps, r alipay.RefundRequest, q *alipay.TradeQuery, base Outcome) (*mcp.CallToolResult, Outcome) {
	if d.Ledger == nil {
		return nil, base
	}
	var total alipay.Amount
	if q != nil {
		if t, err := alipay.ParseAmount(q.TotalAmount); err == nil {
			total = t
			recordSeen(ctx, d, r.OutTradeNo, q, t, ledger.SourceQuery)
		}
	}
	_, _, err := d.Ledger.ReserveRefund(ctx, ledger.RefundRequest{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo,
		Amount: r.RefundAmount, Reason: r.RefundReason, Who: whoOf(ctx), DailyLimit: d.RefundDailyLimit, Total: total})
	var le *ledger.LimitError
	switch {
	case err == nil:
		return nil, base
	case errors.As(err, &le) && errors.Is(err, ledger.ErrOverRefund):
		base.Status, base.Code = "refused", "REFUND_EXCEEDS_REMAINING"
		return toolError(fmt.Sprintf(notMade+"退款金额 ¥%s 超过剩余可退金额 ¥%s (订单金额 ¥%s, 已成功退款 ¥%s)。"+
			"refundAmount ¥%s is more than the ¥%s that remains refundable (order ¥%s, refunded so far ¥%s).\n"+
			"怎么办 / What to do: 最多再退 ¥%s; 告诉用户剩余可退金额。Refund at most ¥%s; tell the user what remains.",
			r.RefundAmount, le.Remaining, le.Limit, le.Used, r.RefundAmount, le.Remaining, le.Limit, le.Used, le.Remaining, le.Remaining)), base
	case errors.As(err, &le):
		base.Status, base.Code = "refused", "DAILY_REFUND_LIMIT"
		return toolError(fmt.Sprintf(notMade+"今天 (北京时间) 的退款已达上限: 上限 ¥%s, 已用 ¥%s, 剩余 ¥%s (AP_REFUND_DAILY_LIMIT)。"+
			"Today's (Beijing time) refunds would pass the daily limit: limit ¥%s, used ¥%s, ¥%s remains (AP_REFUND_DAILY_LIMIT).\n"+
			"怎么办 / What to do: 明天再退, 在支付宝商家平台手动退款, 或由运营者调高 AP_REFUND_DAILY_LIMIT。不要拆成多笔绕过上限。"+
			"Refund tomorrow, in the Alipay merchant portal, or have the operator raise AP_REFUND_DAILY_LIMIT. Do not split it to get around the limit.",
			le.Limit, le.Used, le.Remaining, le.Limit, le.Used, le.Remaining)), base
	case errors.Is(err, ledger.ErrRefundMismatch):
		base.Status, base.Code = "refused", "OUT_REQUEST_NO_USED"
		return toolError(fmt.Sprintf(notMade+"%v\n怎么办 / What to do: 新的退款用新的 outRequestNo; 重试时用原来的金额。Use a new outRequestNo for a new refund, or the original amount to retry.", err)), base
	}
	return notDoneLedger(notMade, err, base)
}

// recordAnswer records the human's part of a refund: asked, accepted,
// declined or cancelled. Any other refusal after the reservation (no way
// to ask, a failed or mismatched confirmation, too little time left) is
// recorded as cancelled with its code, so the refund gives its share of the
// daily limit back. A refusal to record is logged by the audit wrapper's
// entry; the question itself was recorded when asked.
func recordAnswer(ctx context.Context, d Deps, r alipay.RefundRequest, out Outcome) {
	if d.Ledger == nil {
		return
	}
	var step, detail string
	switch out.Code {
	case "USER_CONFIRMED":
		step = ledger.RefundAccepted
	case "USER_DECLINED":
		step = ledger.RefundDeclined
	case "USER_CANCELLED":
		step = ledger.RefundCancelled
	case "CONFIRMED_BY_QUERY":
		settle(ctx, d, r, ledger.OutcomeSucceeded, true, "an earlier call's refund")
		return
	default:
		if out.Status != "refused" && out.Status != "tool_error" {
			return // asked (the answer comes with the next call), or going ahead
		}
		step, detail = ledger.RefundCancelled, out.Code
	}
	_ = d.Ledger.Step(ctx, r.OutTradeNo, r.OutRequestNo, step, whoOf(ctx), detail)
}

// recordAsked records that the human is being asked.
func recordAsked(ctx context.Context, d Deps, r alipay.RefundRequest) {
	if d.Ledger != nil {
		_ = d.Ledger.Step(ctx, r.OutTradeNo, r.OutRequestNo, ledger.RefundAsked, whoOf(ctx), "")
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

// Shares of the call budget, in tenths: the checks before the question
// (trade query, refund history, the earlier-refund query) get 4/10; the
// refund API is called only while 2/10 or more remain.
const (
	checksShare    = 4
	minRefundShare = 2
)

// notSent reports whether a failed call sent no request at all (its
// context ended first), so nothing can have reached Alipay.
func notSent(err error) bool {
	var ae *alipay.Error
	return errors.As(err, &ae) && ae.Attempts == 0 && ae.Code == "" && ae.HTTPStatus == 0
}

// remainingCheck refuses a refund larger than what remains refundable: the
// trade's total (from the precheck's query q) minus the successful refunds
// the history knows of, other than this outRequestNo (a retry of it is
// settled by its own refund query). It says nothing when the trade or the
// history is unknown: Alipay checks the amount itself. A history that
// cannot be read refuses the refund (fail closed): what remains is unknown.
func remainingCheck(ctx context.Context, d Deps, r alipay.RefundRequest, q *alipay.TradeQuery) (*mcp.CallToolResult, string) {
	if q == nil || d.History == nil {
		return nil, ""
	}
	total, err := alipay.ParseAmount(q.TotalAmount)
	if err != nil {
		return nil, ""
	}
	known, err := d.History.Succeeded(ctx, r.OutTradeNo)
	if err != nil {
		return toolError(fmt.Sprintf("退款被拒绝, 未询问用户, 未调用退款接口 / Refund refused; the user was not asked and the refund API was not called: 读不到订单 %s 已成功的退款记录, 无法确定还可退多少: %s。"+
			"The record of order %s's successful refunds cannot be read, so what remains refundable is unknown.\n"+
			"怎么办 / What to do: 稍后用同一个 outRequestNo 再试; 仍失败请运营者检查账本。Try again later with the SAME outRequestNo; if it keeps failing, ask the operator to check the ledger.",
			r.OutTradeNo, displayErr(err), r.OutTradeNo)), "REFUND_HISTORY_UNAVAILABLE"
	}
	var refunded alipay.Amount
	var nos []string
	for _, k := range known {
		if k.OutRequestNo == r.OutRequestNo {
			continue
		}
		refunded += k.Amount
		nos = append(nos, k.OutRequestNo)
	}
	remaining := max(total-refunded, 0)
	if r.RefundAmount <= remaining {
		return nil, ""
	}
	earlier := "无 / none"
	if len(nos) > 0 {
		earlier = strings.Join(nos, ", ")
	}
	return toolError(fmt.Sprintf("退款被拒绝, 未询问用户, 未调用退款接口 / Refund refused; the user was not asked and the refund API was not called: "+
		"退款金额 ¥%s 超过剩余可退金额 ¥%s (订单金额 ¥%s, 已成功退款 ¥%s)。"+
		"refundAmount ¥%s is more than the ¥%s that remains refundable (order amount ¥%s, already refunded ¥%s).\n"+
		"- 剩余可退 / remains refundable: ¥%s\n"+
		"- 已知的成功退款 / known successful refunds (outRequestNo): %s\n"+
		"怎么办 / What to do: 最多退 ¥%s; 已退款项可用 query-alipay-refund 按 outRequestNo 逐笔查看。"+
		"Refund at most ¥%s; check earlier refunds one by one with query-alipay-refund and their outRequestNo.",
		r.RefundAmount, remaining, total, refunded, r.RefundAmount, remaining, total, refunded, remaining, earlier, remaining, remaining)), "REFUND_EXCEEDS_REMAINING"
}

// mismatchRefused refuses a refund before the refund API is called because
// a check's answer was about another order or request: a gateway that
// misroutes answers cannot be trusted with this one either.
func mismatchRefused(err error) *mcp.CallToolResult {
	return toolError(fmt.Sprintf("退款被拒绝, 未调用退款接口 / Refund refused; the refund API was not called: "+
		"支付宝网关答复的是另一笔订单或请求, 答复未采用 / the gateway answered about something else, and its answer was NOT used: %s\n"+
		"怎么办 / What to do: %s", displayErr(err), mismatchAdvice))
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
	fmt.Fprintf(b, "- 支付宝交易号 / tradeNo: %s\n", displayText(tradeNo, 64))
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
		if q.RefundStatus == alipay.RefundSuccess && d.Ledger != nil {
			// A refund this server sent and lost the answer of is settled now.
			if rec, err := d.Ledger.Refund(ctx, no, reqNo); err == nil && rec.Outcome != ledger.OutcomeSucceeded && rec.Amount == amt {
				settle(ctx, d, alipay.RefundRequest{OutTradeNo: no, OutRequestNo: reqNo}, ledger.OutcomeSucceeded, true, "query-alipay-refund")
			}
		}
		var b strings.Builder
		b.WriteString("支付宝退款查询结果 / Alipay refund:\n")
		fmt.Fprintf(&b, "- 商户订单号 / outTradeNo: %s\n", no)
		fmt.Fprintf(&b, "- 退款请求号 / outRequestNo: %s\n", reqNo)
		fmt.Fprintf(&b, "- 支付宝交易号 / tradeNo: %s\n", displayText(q.TradeNo, 64))
		fmt.Fprintf(&b, "- 退款金额 / refund amount: ¥%s\n", amt)
		if q.GmtRefundPay != "" {
			fmt.Fprintf(&b, "- 退款时间 / refunded at: %s (北京时间 / Beijing time)\n", displayText(q.GmtRefundPay, 32))
		}
		fmt.Fprintf(&b, "- 状态 / status: %s — %s", displayText(q.RefundStatus, 64), refundStatusMeaning(q.RefundStatus))
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
