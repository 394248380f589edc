package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// Outcome summarises a call for the log: never arguments beyond the ids,
// never URLs, never keys.
type Outcome struct {
	Status       string // "ok", "asked" (a question to the user), "invalid_input", "refused" or "tool_error"
	OutTradeNo   string
	OutRequestNo string
	Code         string // Alipay code, or our own reason for refusals
	SubCode      string
	Amount       alipay.Amount // the call's amount, for the audit log

	// audited: the handler wrote the call's audit entry itself.
	audited bool
}

// success builds a result with structured content and readable text.
// structured is one of this package's output structs, which always encode:
// amounts inside are alipay.Amount, written from fen as exact decimals
// (19.99), never through a float; Amount's encoder fails only for
// math.MinInt64 fen, which no parse yields. The SDK encodes it
// with the rest of the result; encoded here first, as a json.RawMessage,
// it was scanned once more on the way out, and a link's answer carries the
// signed URL in it.
func success(structured any, text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: text}},
		StructuredContent: structured,
	}
}

// toolError builds an error result: text only, never structuredContent.
func toolError(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{
		Content: []mcp.Content{&mcp.TextContent{Text: text}},
		IsError: true,
	}
}

// invalidInput reports every validation problem of a call at once.
func invalidInput(tool string, problems []string) *mcp.CallToolResult {
	var b strings.Builder
	fmt.Fprintf(&b, "参数错误, 未调用支付宝 / Invalid arguments for %s; Alipay was not called:\n", tool)
	for _, p := range problems {
		b.WriteString("- ")
		b.WriteString(displayText(p, 1000))
		b.WriteByte('\n')
	}
	b.WriteString("请修正后重试 / Fix the arguments and call again.")
	return toolError(b.String())
}

// maxGatewayText caps gateway text quoted in a result: 199 characters and
// "…", at most 200.
const maxGatewayText = 199

// quoteGateway quotes gateway text (sub_msg) on one line of at most 200
// characters, attributed to Alipay, marked unverified when the answer was
// not signed; quotation marks inside become ＂ so it cannot close the quote.
func quoteGateway(s string, unverified bool) string {
	q := strings.ReplaceAll(displayTitle(s, maxGatewayText), `"`, "＂")
	if unverified {
		return fmt.Sprintf(`支付宝说明 (未验签) / Alipay says (unverified): "%s"`, q)
	}
	return fmt.Sprintf(`支付宝说明 / Alipay says: "%s"`, q)
}

// op names what a tool was doing, so the advice fits the call.
type op int

const (
	opLink op = iota
	opQuery
	opRefund
	opRefundQuery
	opQR    // alipay.trade.precreate
	opClose // alipay.trade.close
	opWait  // queries while waiting
)

// alipayError turns a failed call into a tool error with Alipay's code,
// sub_code and sub_msg and one line on what to do. ids carries the call's
// order numbers into the outcome.
func alipayError(o op, err error, ids Outcome) (*mcp.CallToolResult, Outcome) {
	out := Outcome{Status: "tool_error", OutTradeNo: ids.OutTradeNo, OutRequestNo: ids.OutRequestNo}
	var b strings.Builder
	var ae *alipay.Error
	switch {
	case o == opLink:
		// Links are signed locally; no gateway is involved.
		out.Code = "LINK_ERROR"
		fmt.Fprintf(&b, "无法创建支付链接 / Could not create the payment link: %s\n怎么办 / What to do: 检查参数和 AP_APP_KEY。Check the arguments and AP_APP_KEY.", displayErr(err))
	case errors.Is(err, alipay.ErrAnswerMismatch):
		out.Code = "ANSWER_MISMATCH"
		fmt.Fprintf(&b, "支付宝网关答复的是另一笔订单或请求, 答复未采用 / The gateway answered about something else; its answer was NOT used: %s\n", displayErr(err))
		fmt.Fprintf(&b, "怎么办 / What to do: %s %s", mismatchAdvice, unknownOutcome(o))
	case errors.As(err, &ae) && ae.Code != "":
		out.Code, out.SubCode = displayText(ae.Code, 32), displayText(ae.SubCode, 64)
		if ae.Unverified {
			fmt.Fprintf(&b, "支付宝网关返回错误, 答复未签名, 未经验证 / The gateway returned an error in an UNSIGNED answer, so it is unverified (%s):\n", ae.Method)
		} else {
			fmt.Fprintf(&b, "支付宝返回错误 / Alipay returned an error (%s):\n", ae.Method)
		}
		fmt.Fprintf(&b, "- code: %s (%s)\n", out.Code, displayText(ae.Msg, 64))
		if ae.SubCode != "" {
			fmt.Fprintf(&b, "- sub_code: %s\n", out.SubCode)
		}
		if ae.SubMsg != "" {
			fmt.Fprintf(&b, "- %s\n", quoteGateway(ae.SubMsg, ae.Unverified))
		}
		if ae.Unverified {
			b.WriteString("- 这是未签名的错误响应, 仅供诊断 / the answer was not signed; shown for diagnosis only\n")
		}
		if ae.TraceID != "" {
			fmt.Fprintf(&b, "- trace_id: %s\n", displayText(ae.TraceID, 64))
		}
		fmt.Fprintf(&b, "怎么办 / What to do: %s", adviceFor(o, ae))
	case errors.Is(err, alipay.ErrBadSignature):
		out.Code = "SIGNATURE_VERIFICATION_FAILED"
		fmt.Fprintf(&b, "支付宝响应验签失败, 结果不可信, 未采用 / The gateway's answer failed signature verification and was NOT trusted: %s\n", displayErr(err))
		fmt.Fprintf(&b, "怎么办 / What to do: 检查 AP_PUB_KEY 是这个应用在当前环境的「支付宝公钥」而不是你的应用公钥; 如果配置无误, 说明响应在途中被篡改。"+
			"Check that AP_PUB_KEY is the Alipay public key of this app in this environment, not your app public key; "+
			"if it is, the answer was altered on the way. %s", unknownOutcome(o))
	case errors.Is(err, alipay.ErrMalformedResponse):
		out.Code = "MALFORMED_RESPONSE"
		fmt.Fprintf(&b, "网关返回的不是支付宝响应 / The gateway did not answer like Alipay: %s\n", displayErr(err))
		fmt.Fprintf(&b, "怎么办 / What to do: 检查 AP_GATEWAY_URL / AP_CURRENT_ENV 指向支付宝网关。Check that AP_GATEWAY_URL / AP_CURRENT_ENV point at an Alipay gateway. %s", unknownOutcome(o))
	case errors.As(err, &ae) && ae.HTTPStatus != 0:
		out.Code = fmt.Sprintf("HTTP_%d", ae.HTTPStatus)
		fmt.Fprintf(&b, "支付宝网关返回 HTTP %d / The Alipay gateway answered HTTP %d.\n", ae.HTTPStatus, ae.HTTPStatus)
		fmt.Fprintf(&b, "怎么办 / What to do: 稍后重试; 若持续出现, 检查 AP_GATEWAY_URL。Retry later; if it persists, check AP_GATEWAY_URL. %s", unknownOutcome(o))
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		out.Code = "CANCELLED"
		fmt.Fprintf(&b, "调用被取消或超时 / The call was cancelled or timed out: %s\n怎么办 / What to do: %s", displayErr(err), unknownOutcome(o))
	default:
		out.Code = "NETWORK_ERROR"
		fmt.Fprintf(&b, "无法从支付宝得到答复 / No answer from Alipay: %s\n", displayErr(err))
		fmt.Fprintf(&b, "怎么办 / What to do: 检查网络、代理和 AP_GATEWAY_URL, 然后重试。Check the network, proxy and AP_GATEWAY_URL, then retry. %s", unknownOutcome(o))
	}
	return toolError(b.String()), out
}

// mismatchAdvice is what to do when a signed answer was about something
// other than what was asked.
const mismatchAdvice = "这个答复不能说明本订单的任何情况。检查 AP_GATEWAY_URL / AP_CURRENT_ENV 以及中间的代理或缓存是否把别的答复转给了本服务。" +
	"The answer says nothing about this order. Check AP_GATEWAY_URL / AP_CURRENT_ENV and any proxy or cache between this server and Alipay that may hand it answers meant for other requests."

// unknownOutcome is the line that keeps a retry safe when Alipay's answer
// is missing or untrusted.
func unknownOutcome(o op) string {
	switch o {
	case opRefund:
		return "退款结果未知: 用同一个 outRequestNo 和同样金额重试 (支付宝不会重复退款), 或用 query-alipay-refund 查询。" +
			"The refund's outcome is unknown: retry with the SAME outRequestNo and amount (Alipay never refunds twice), or check with query-alipay-refund."
	case opLink:
		return ""
	case opQR:
		return "用同一个 outTradeNo 和同样的金额、标题再调用一次是安全的: 支付宝对同一订单给出同一个二维码。" +
			"Calling again with the same outTradeNo, amount and title is safe: Alipay gives the same order the same QR code."
	case opClose:
		return "关闭结果未知: 用 query-alipay-payment 查看状态, 或再调用一次 close-alipay-payment (重复关闭不会有副作用)。" +
			"Whether the order was closed is unknown: check it with query-alipay-payment, or call close-alipay-payment again (closing twice does no harm)."
	default:
		return "查询可以放心重试 / Queries are safe to retry."
	}
}

// adviceFor says what to do about an Alipay error code, for this kind of call.
func adviceFor(o op, e *alipay.Error) string {
	switch e.SubCode {
	case "ACQ.TRADE_HAS_SUCCESS":
		return "这个 outTradeNo 的订单已经付过款了, 不要再收一次; 用 query-alipay-payment 查看。新的订单请用新的 outTradeNo。" +
			"The order with this outTradeNo is already paid: do not charge again; check it with query-alipay-payment. Use a new outTradeNo for a new order."
	case "ACQ.TRADE_HAS_CLOSE":
		return "这个 outTradeNo 的订单已关闭, 不能再付款; 新的订单请用新的 outTradeNo。The order with this outTradeNo is closed and cannot be paid; use a new outTradeNo for a new order."
	case "ACQ.CONTEXT_INCONSISTENT":
		return "这个 outTradeNo 已用于金额或标题不同的订单; 新的订单请用新的 outTradeNo。This outTradeNo was used for an order with another amount or title; use a new outTradeNo for a new order."
	case alipay.SubTradeNotExist:
		if o == opQuery {
			return "买家还没有打开支付链接 (打开后支付宝才创建交易), 或商户订单号有误。请让买家打开链接付款, 稍后再查询。" +
				"The buyer has not opened the payment link yet (Alipay creates the trade only then), or the outTradeNo is wrong. Ask the buyer to open the link and pay, then query again later."
		}
		return "支付宝没有这个商户订单号的交易, 无法退款或查询退款; 请确认 outTradeNo, 并确认买家已付款。" +
			"Alipay has no trade with this outTradeNo, so there is nothing to refund; check the outTradeNo and that the buyer has paid."
	case alipay.SubDiscordantRepeat:
		return "这个 outRequestNo 已用于一笔金额或内容不同的退款。新的退款请用新的 outRequestNo; 要确认之前那笔, 用 query-alipay-refund 查询。" +
			"This outRequestNo was already used for a refund with another amount. Use a new outRequestNo for a new refund; check the earlier one with query-alipay-refund."
	case alipay.SubRefundFeeErr, "ACQ.REFUND_FEE_ERROR", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL":
		return "退款金额超过了剩余可退金额 (订单金额减去已成功的退款)。query-alipay-payment 只显示订单金额, 不显示退款: 用 query-alipay-refund 按 outRequestNo 逐笔查看之前的退款 (或在支付宝商家平台查看), 再退不超过剩余的金额。" +
			"The refund amount is more than what remains refundable (the order amount minus earlier successful refunds). query-alipay-payment shows the order amount but not its refunds: check each earlier refund with query-alipay-refund and its outRequestNo (or in the Alipay merchant portal), then refund at most the remainder."
	case alipay.SubTradeStatusError, "ACQ.REASON_ILLEGAL_STATUS", "ACQ.REASON_TRADE_STATUS_INVALID":
		return "交易状态不允许这个操作: 买家可能还没付款, 或交易已关闭/已全额退款。先用 query-alipay-payment 查询状态。" +
			"The trade's status does not allow this: the buyer may not have paid yet, or the trade is closed or fully refunded. Check it with query-alipay-payment."
	case "ACQ.TRADE_HAS_FINISHED":
		return "交易已结束, 退款期已过, 不能再退款。The trade is finished and its refund period is over; it can no longer be refunded."
	case "ACQ.TRADE_NOT_ALLOW_REFUND", "ACQ.REASON_TRADE_BEEN_FREEZEN":
		return "这笔交易当前不允许退款, 请在支付宝商家平台处理。This trade cannot be refunded now; handle it in the Alipay merchant portal."
	case alipay.SubSellerBalanceNotEno:
		return "商户账户余额不足。充值后用同一个 outRequestNo 重试。The merchant balance is too low: top it up, then retry with the SAME outRequestNo."
	case alipay.SubInvalidParameter:
		return "支付宝认为参数无效; 检查订单号、金额和标题。Alipay found a parameter invalid; check the order number, amount and title."
	case alipay.SubInvalidSignature:
		return "支付宝无法验证请求签名: AP_APP_KEY 与开放平台上为该应用配置的应用公钥不匹配, 或 AP_ENCRYPTION_ALGO 与平台设置不一致。运行 `mcp-server-alipay doctor` 检查。" +
			"Alipay could not verify our request signature: AP_APP_KEY does not match the app public key configured for this app in the portal, or AP_ENCRYPTION_ALGO differs from the portal setting. Run `mcp-server-alipay doctor`."
	case alipay.SubInvalidAppID:
		return "这个环境里没有 AP_APP_ID 对应的应用: 检查 AP_APP_ID, 以及 AP_CURRENT_ENV (沙箱 APPID 只能用 sandbox)。" +
			"No app with this AP_APP_ID exists in this environment: check AP_APP_ID and AP_CURRENT_ENV (a sandbox APPID works only with sandbox)."
	case "ACQ.ACCESS_FORBIDDEN":
		if o == opQR {
			return "应用无权调用当面付 (alipay.trade.precreate): 开通当面付，或改发支付链接。" +
				"The app may not call face-to-face payment (alipay.trade.precreate): enable 当面付 (face-to-face), or send a payment link instead."
		}
		return "应用无权调用这个接口: 在开放平台检查应用的产品签约和接口权限。The app may not call this API: check the app's products and API permissions in the portal."
	case "isv.invalid-timestamp":
		return "支付宝拒绝了请求时间: 校准本机时钟。Alipay rejected the request time: fix this machine's clock."
	case "isv.insufficient-isv-permissions", "isv.insufficient-user-permissions":
		if o == opQR {
			return "应用没有签约或开通当面付 (扫码支付)。在开放平台为应用开通「当面付」, 或改用支付链接。" +
				"The app has not signed up for face-to-face payment; enable it for the app in the portal, or send a payment link instead."
		}
		return "应用没有签约或开通这个产品 (电脑网站支付 / 手机网站支付)。在开放平台为应用开通对应产品。" +
			"The app has not signed up for this product (page pay / wap pay); enable it for the app in the portal."
	}
	switch {
	case e.Code == "20001" || strings.HasPrefix(e.SubCode, "aop.") && strings.Contains(e.SubCode, "auth-token"):
		return "授权令牌无效或过期: 检查 AP_INVOKE_AUTH_TOKEN (app_auth_token)。The authorization token is invalid or expired: check AP_INVOKE_AUTH_TOKEN (app_auth_token)."
	case e.Code == "40005":
		return "调用太频繁, 稍后再试。Too many calls; wait a little and retry. " + unknownOutcome(o)
	case e.Retryable:
		return "支付宝暂时无法处理, 结果未知。Alipay could not process the call; the outcome is unknown. " + unknownOutcome(o)
	case e.Code == "40002" || e.Code == "40001" || e.Code == "40003" || e.Code == "40006":
		return "配置或请求有误, 运行 `mcp-server-alipay doctor` 检查配置。The configuration or the request is wrong; run `mcp-server-alipay doctor` to check the configuration."
	}
	return "根据 sub_msg 修正后重试; 不确定时先用查询工具确认订单状态。Fix what sub_msg describes and retry; when unsure, check the order with the query tools first."
}
