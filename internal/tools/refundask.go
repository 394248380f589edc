package tools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// A refund asks the human before money moves, so that a confused or
// manipulated model cannot refund on its own.
//
// Two mechanisms, one per protocol era:
//
//   - 2026-07-28 sessions: Multi Round-Trip Requests. The first call returns
//     CallToolResult.InputRequests (one form elicitation) and a sealed,
//     single-use RequestState; the client answers in a second call carrying
//     Params.InputResponses and the state. (ServerSession.Elicit is refused
//     on these sessions.) The second call runs validation, the cap and the
//     trade precheck again before the answer is read, and the state must
//     match its arguments: an answer only ever approves the refund it was
//     asked about, and only once (refundstate.go).
//   - Older sessions: the handler calls ServerSession.Elicit itself, and
//     judges "can ask" from the capabilities the client declared at
//     initialize. Returning InputRequests there would hand the question to
//     the SDK's bridge (serverMultiRoundTripMiddleware), which turns every
//     failure — a handler error, an answer that does not match the schema
//     ("true" as a string, a missing field), a _meta capability claim the
//     session cannot honour — into a JSON-RPC error the model cannot read.
//     Asking ourselves keeps each of those a bilingual tool error. (A
//     receiving middleware cannot do better: it would sit outside the
//     bridge and see only its English error.)
//
// Before asking, the refund query is consulted: a retry of a refund that
// already went through (its answer was lost) is reported as done, without a
// question whose "no" would come too late.

// ConfirmMode says when refund-alipay-payment asks the human to confirm
// (AP_REFUND_CONFIRM). The zero value is ConfirmAuto.
type ConfirmMode int

const (
	// ConfirmAuto asks when the client declares form elicitation and
	// refunds without asking otherwise.
	ConfirmAuto ConfirmMode = iota
	// ConfirmAlways asks, and refuses the refund when the client cannot ask.
	ConfirmAlways
	// ConfirmNever never asks.
	ConfirmNever
)

const (
	// confirmInput is the key of the question in InputRequests and of the
	// answer in InputResponses.
	confirmInput = "confirm_refund"
	// confirmField is the form's one field: a boolean the user must set.
	confirmField = "confirm"
	// confirmTTL is how long a question may wait for its answer.
	confirmTTL = 10 * time.Minute
	// mrtrVersion is the first protocol version with Multi Round-Trip
	// Requests; versions are dates, so they compare as strings.
	mrtrVersion = "2026-07-28"
)

// callRequestKey carries the call's request to runRefund through define.
type callRequestKey struct{}

func withCallRequest(ctx context.Context, req *mcp.CallToolRequest) context.Context {
	return context.WithValue(ctx, callRequestKey{}, req)
}

func callRequest(ctx context.Context) *mcp.CallToolRequest {
	req, _ := ctx.Value(callRequestKey{}).(*mcp.CallToolRequest)
	return req
}

// askRefund decides whether refund r may go ahead. It returns a nil result
// when it may; otherwise the result to return: the question for the user,
// the refund reported as already done, or a tool error (declined,
// cancelled, a bad or replayed answer, or no way to ask under
// ConfirmAlways). q is the trade from the precheck, nil if unknown.
//
// checks bounds the queries made before asking; ctx bounds the question.
func askRefund(ctx, checks context.Context, d Deps, r alipay.RefundRequest, q *alipay.TradeQuery, base Outcome) (*mcp.CallToolResult, Outcome) {
	if d.Confirm == ConfirmNever {
		return nil, base
	}
	req := callRequest(ctx)
	var p *mcp.CallToolParamsRaw
	if req != nil {
		p = req.Params
	}
	// An answer is judged whatever the capabilities say now: a retry must
	// never turn a "no" into a refund because it looks like a client that
	// cannot ask.
	if p != nil && (p.RequestState != "" || p.InputResponses != nil) {
		return judgeRetry(checks, d, p, r, base)
	}
	legacy := req != nil && legacySession(req.Session)
	if req != nil && canAskForm(askCapabilities(req, legacy)) {
		if res, out := alreadyRefunded(checks, d, r, base); res != nil {
			return res, out
		}
		recordAsked(ctx, d, r)
		if legacy {
			return askNow(ctx, d, req.Session, r, q, base)
		}
		base.Status, base.Code = "asked", "CONFIRMATION_REQUESTED"
		return &mcp.CallToolResult{
			InputRequests: mcp.InputRequestMap{confirmInput: confirmQuestion(d, r, q)},
			RequestState:  d.sealer().seal(claimsOf(r)),
		}, base
	}
	if d.Confirm == ConfirmAlways {
		base.Status, base.Code = "refused", "CONFIRMATION_UNAVAILABLE"
		return toolError("退款被拒绝, 未调用退款接口 / Refund refused; the refund API was not called: " +
			"本服务要求每笔退款先由用户确认 (AP_REFUND_CONFIRM=always), 但这个 MCP 客户端不能询问用户 (未声明表单 elicitation)。" +
			"This server requires the user to confirm every refund (AP_REFUND_CONFIRM=always), but this MCP client cannot ask the user (it does not declare form elicitation).\n" +
			"怎么办 / What to do: 告诉用户无法在这里确认退款; 请用户在支持 elicitation 的客户端中操作, 或在支付宝商家平台手动退款。不要换参数重试。" +
			"Tell the user the refund cannot be confirmed here; they can use a client that supports elicitation, or refund in the Alipay merchant portal. Do not retry with other arguments."), base
	}
	return nil, base
}

// legacySession reports whether ss speaks a protocol before Multi Round-Trip
// Requests, the way the SDK decides it (mrtr.go: no initialize means the
// newest protocol).
func legacySession(ss *mcp.ServerSession) bool {
	if ss == nil {
		return false
	}
	ip := ss.InitializeParams()
	return ip != nil && ip.ProtocolVersion < mrtrVersion
}

// askCapabilities are the client capabilities that decide whether to ask.
// On an older session only those declared at initialize count: that is what
// ServerSession.Elicit checks, whatever a request's _meta claims (which
// req.ClientCapabilities() would read first).
func askCapabilities(req *mcp.CallToolRequest, legacy bool) *mcp.ClientCapabilities {
	if !legacy {
		return req.ClientCapabilities()
	}
	if ip := req.Session.InitializeParams(); ip != nil {
		return ip.Capabilities
	}
	return nil
}

// canAskForm reports whether the client declared form elicitation. A
// declaration without modes means form, as the SDK and the spec read it.
func canAskForm(caps *mcp.ClientCapabilities) bool {
	if caps == nil || caps.Elicitation == nil {
		return false
	}
	e := caps.Elicitation
	return e.Form != nil || e.URL == nil
}

// alreadyRefunded asks Alipay whether r's outRequestNo was refunded by an
// earlier call (one whose answer was lost). REFUND_SUCCESS of r's amount is
// reported as done, and another amount as a used number; any other answer,
// or a failed query, returns nil and the user is asked.
func alreadyRefunded(ctx context.Context, d Deps, r alipay.RefundRequest, base Outcome) (*mcp.CallToolResult, Outcome) {
	q, err := d.Client.QueryRefund(ctx, r.OutTradeNo, r.OutRequestNo)
	if errors.Is(err, alipay.ErrAnswerMismatch) {
		base.Status, base.Code = "refused", "ANSWER_MISMATCH"
		return mismatchRefused(err), base
	}
	if err != nil || q.RefundStatus != alipay.RefundSuccess {
		return nil, base
	}
	amt, err := alipay.ParseAmount(q.RefundAmount)
	if err != nil {
		return nil, base
	}
	if amt != r.RefundAmount {
		base.Status, base.Code = "tool_error", "OUT_REQUEST_NO_USED"
		return numberUsed(r, amt), base
	}
	base.Status, base.Code = "ok", "CONFIRMED_BY_QUERY"
	return confirmedByQuery(d, r, q, "", "", "这笔退款已由之前用同一个 outRequestNo 的调用完成 (那次的答复可能丢失了); 本次调用没有再退款, 也没有再询问用户。这笔钱只退过一次, 不会重复。"+
		"The refund was already made by an earlier call with this outRequestNo (its answer may have been lost); this call refunded nothing more and did not ask the user again. The money moved once and never twice."), base
}

// askNow asks the user on an older session and judges the answer. Any
// failure to get an answer is a tool error: nothing is refunded.
func askNow(ctx context.Context, d Deps, ss *mcp.ServerSession, r alipay.RefundRequest, q *alipay.TradeQuery, base Outcome) (*mcp.CallToolResult, Outcome) {
	answer, err := ss.Elicit(ctx, confirmQuestion(d, r, q))
	if err != nil {
		base.Status, base.Code = "refused", "CONFIRMATION_FAILED"
		return toolError(fmt.Sprintf(notMade+"无法向用户确认这笔退款: 客户端的确认没有给出有效答复。"+
			"The refund could not be confirmed: the client's confirmation gave no valid answer (%s).\n"+
			"怎么办 / What to do: 告诉用户确认没有成功; 用户仍要退款时, 用同样的参数重新调用 refund-alipay-payment, 会再次询问用户, 或在支付宝商家平台手动退款。"+
			"Tell the user the confirmation failed; if they still want the refund, call refund-alipay-payment again with the same arguments (the user will be asked again), or refund in the Alipay merchant portal. "+
			earlierCall, displayErr(err))), base
	}
	return judgeAnswer(answer, r, base)
}

// notMade opens every refusal of a confirmation. It claims nothing about
// earlier calls: one with the same outRequestNo may have refunded.
const notMade = "退款未执行, 本次调用未调用退款接口 / Refund NOT made; this call did not call the refund API: "

// earlierCall is the caveat every refusal carries.
const earlierCall = "之前用同一个 outRequestNo 的调用可能已经退款, 用 query-alipay-refund 查询。" +
	"An earlier call with this outRequestNo may have refunded; check with query-alipay-refund."

// judgeRetry checks a retried call's state against its arguments, spends
// the state's one answer, then reads the user's answer.
func judgeRetry(ctx context.Context, d Deps, p *mcp.CallToolParamsRaw, r alipay.RefundRequest, base Outcome) (*mcp.CallToolResult, Outcome) {
	base.Status = "refused"
	claims, err := d.sealer().open(p.RequestState, claimsOf(r))
	if err != nil {
		base.Code = "CONFIRMATION_INVALID"
		return toolError(fmt.Sprintf(notMade+"%s\n"+askAgain+" "+earlierCall, stateProblem(err))), base
	}
	fresh, err := d.consumeAnswer(ctx, claims.Nonce, time.Unix(claims.Expires, 0))
	if errors.Is(err, errAnswerUnrecorded) {
		base.Code = "LEDGER_UNAVAILABLE"
		return toolError(notMade + "账本不可用, 无法记录这次答复, 所以没有采用它。The ledger is unavailable, so this answer could not be recorded and was not taken.\n" +
			"怎么办 / What to do: 请运营者检查数据库 (AP_DATABASE_URL); 恢复后用同样的参数重新调用 refund-alipay-payment, 会再次询问用户。" +
			"Ask the operator to check the database (AP_DATABASE_URL); once it is back, call refund-alipay-payment again with the same arguments and the user will be asked again. " + earlierCall), base
	}
	if err != nil {
		base.Code = "CONFIRMATION_BUSY"
		return toolError(notMade + "最近 10 分钟内确认过的退款太多, 暂时无法记录这次答复。Too many refund confirmations were answered in the last 10 minutes to record this one.\n" +
			"怎么办 / What to do: 几分钟后用同样的参数重新调用 refund-alipay-payment, 会再次询问用户。" +
			"Call refund-alipay-payment again with the same arguments in a few minutes; the user will be asked again. " + earlierCall), base
	}
	if !fresh {
		// A replay, or a concurrent retry of the same answer. If the
		// refund went through, say so; otherwise refuse, without a question.
		if res, out := alreadyRefunded(ctx, d, r, base); res != nil {
			return res, out
		}
		base.Code = "CONFIRMATION_USED"
		return toolError(notMade + "这次确认已经答复过, 每次确认只能使用一次。This confirmation was already answered; each one is good for one answer.\n" +
			askAgain + " " + earlierCall), base
	}
	answer, _ := p.InputResponses[confirmInput].(*mcp.ElicitResult)
	if answer == nil {
		base.Code = "CONFIRMATION_MISSING"
		return toolError(notMade + "没有收到用户对这笔退款的答复。No answer from the user to the refund confirmation arrived.\n" +
			askAgain + " " + earlierCall), base
	}
	return judgeAnswer(answer, r, base)
}

// askAgain is the advice after a state that cannot be used: the model never
// sees request states, so it is told to repeat its call.
const askAgain = "怎么办 / What to do: 用同样的参数重新调用 refund-alipay-payment, 会再次询问用户。" +
	"Call refund-alipay-payment again with the same arguments; the user will be asked again."

// judgeAnswer reads the user's answer. Only accept with confirm=true lets
// the refund go ahead.
func judgeAnswer(answer *mcp.ElicitResult, r alipay.RefundRequest, base Outcome) (*mcp.CallToolResult, Outcome) {
	base.Status = "refused"
	yes, _ := answer.Content[confirmField].(bool)
	if answer.Action == "accept" && yes {
		base.Status, base.Code = "", "USER_CONFIRMED"
		return nil, base
	}
	var why string
	switch answer.Action {
	case "accept":
		base.Code = "USER_DECLINED"
		why = "用户没有确认 (confirm=false)。The user did not confirm (confirm=false)."
	case "cancel":
		base.Code = "USER_CANCELLED"
		why = "用户关闭了确认框, 没有确认。The user dismissed the confirmation without confirming."
	default:
		base.Code = "USER_DECLINED"
		why = "用户拒绝了这笔退款。The user declined this refund."
	}
	return toolError(fmt.Sprintf(notMade+"%s (¥%s, 订单 / order %s, outRequestNo %s)\n"+
		"怎么办 / What to do: 不要重试; 先问用户是否还要退款以及原因, 只有用户明确要求时才再调用。"+
		"Do not retry on your own: ask the user whether they still want this refund and why, and call again only if they say so. "+earlierCall,
		why, r.RefundAmount, r.OutTradeNo, r.OutRequestNo)), base
}

// stateProblem explains a rejected request state.
func stateProblem(err error) string {
	switch {
	case errors.Is(err, errStateExpired):
		return "确认已超过 10 分钟, 已失效。The confirmation is older than 10 minutes and has expired."
	case errors.Is(err, errStateMismatch):
		return "参数与用户确认的不一致 (订单号、退款请求号、金额或原因变了)。The arguments differ from what the user was asked to confirm (order, outRequestNo, amount or reason changed)."
	}
	return "确认状态无效: 不是本服务进程签发的, 或已被改动 (服务重启后旧的确认也会失效)。The confirmation state is invalid: not issued by this server process, or altered (a restart also invalidates earlier ones)."
}
