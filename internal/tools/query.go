package tools

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// readOnlyAnnotations: queries change nothing and may be repeated freely.
func readOnlyAnnotations() mcp.ToolAnnotations {
	return mcp.ToolAnnotations{
		ReadOnlyHint:    true,
		DestructiveHint: boolPtr(false),
		IdempotentHint:  true,
		OpenWorldHint:   boolPtr(true),
	}
}

// queryPayment is query-alipay-payment (alipay.trade.query).
func queryPayment(d Deps) ServerTool {
	return define("queryPay", NameQueryPay, "查询支付 / Query payment",
		"Looks up an Alipay order by outTradeNo and returns its status, amount and Alipay trade number.",
		readOnlyAnnotations(), runQuery(d))
}

type queryOut struct {
	TradeStatus string        `json:"tradeStatus"`
	TotalAmount alipay.Amount `json:"totalAmount"`
	TradeNo     string        `json:"tradeNo"`
}

func runQuery(d Deps) run {
	return func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome) {
		no := a.text("outTradeNo")
		q, err := d.Client.Query(ctx, no)
		if err != nil {
			return alipayError(opQuery, err, Outcome{OutTradeNo: no})
		}
		total, problem := checkAnswer(q.TradeNo, q.TradeStatus, q.TotalAmount, "total_amount")
		if problem != "" {
			return incomplete(alipay.MethodQuery, problem), Outcome{Status: "tool_error", OutTradeNo: no, Code: "INCOMPLETE_RESPONSE"}
		}
		var b strings.Builder
		b.WriteString("支付宝交易查询结果 / Alipay trade:\n")
		fmt.Fprintf(&b, "- 商户订单号 / outTradeNo: %s\n", no)
		fmt.Fprintf(&b, "- 支付宝交易号 / tradeNo: %s\n", displayText(q.TradeNo, 64))
		fmt.Fprintf(&b, "- 金额 / amount: ¥%s\n", total)
		if q.SendPayDate != "" {
			fmt.Fprintf(&b, "- 付款时间 / paid at: %s (北京时间 / Beijing time)\n", displayText(q.SendPayDate, 32))
		}
		recordSeen(ctx, d, no, q, total, ledger.SourceQuery)
		if refunded, ok := refundedSoFar(ctx, d, no); ok {
			fmt.Fprintf(&b, "- 已退款 / refunded so far: ¥%s (本服务器记录的成功退款 / successful refunds this server recorded)\n", refunded)
		}
		b.WriteString(unsettledRefundsText(ctx, d, no))
		fmt.Fprintf(&b, "- 状态 / status: %s — %s", displayText(q.TradeStatus, 64), tradeStatusMeaning(q.TradeStatus))
		b.WriteString(paidAfterCloseAlert(ctx, d, no, q.TradeStatus))
		if d.Local {
			b.WriteString(localNote)
		}
		out := queryOut{TradeStatus: q.TradeStatus, TotalAmount: total, TradeNo: q.TradeNo}
		return success(out, b.String()), Outcome{Status: "ok", OutTradeNo: no}
	}
}

// tradeStatusMeaning explains a trade_status to the buyer's merchant.
func tradeStatusMeaning(s string) string {
	switch s {
	case alipay.TradeWaitBuyerPay:
		return "交易已创建, 等待买家付款; 还没有付款, 不要发货。Created, waiting for the buyer to pay: not paid yet, do not deliver."
	case alipay.TradeSuccess:
		return "买家已付款成功, 可以退款 (部分退款后仍是此状态)。Paid; refunds are possible (partial refunds keep this status)."
	case alipay.TradeClosed:
		return "交易已关闭: 未付款超时或被关闭, 或已全额退款。Closed: unpaid and timed out or closed, or fully refunded."
	case alipay.TradeFinished:
		return "交易已完结: 已付款, 但不能再退款。Finished: paid, and no longer refundable."
	}
	return "未知状态, 请在支付宝商家平台核实。Unknown status; check it in the Alipay merchant portal."
}

// checkAnswer makes sure a successful answer has what the output schema
// requires, so we never send structured content that breaks it.
func checkAnswer(tradeNo, status, amount, amountField string) (alipay.Amount, string) {
	if tradeNo == "" || utf8.RuneCountInString(tradeNo) > 64 {
		return 0, "trade_no is missing or longer than 64 characters"
	}
	if status == "" || utf8.RuneCountInString(status) > 64 {
		return 0, "the status is missing or longer than 64 characters"
	}
	a, err := alipay.ParseAmount(amount)
	if err != nil {
		return 0, fmt.Sprintf("%s %q is not an amount: %v", amountField, amount, err)
	}
	return a, ""
}

// localNote ends every result text in local mode.
const localNote = "\n\n(本地支付宝, 不涉及真实资金 / local Alipay: no real money moves.)"

// incomplete is the error for a successful answer that lacks what the
// output schema requires.
func incomplete(method, problem string) *mcp.CallToolResult {
	return toolError(fmt.Sprintf("支付宝的答复不完整, 未采用 / Alipay's answer to %s was incomplete and was not used: %s.\n"+
		"怎么办 / What to do: 稍后重试查询; 若持续出现, 在支付宝商家平台核实。Query again later; if it persists, check in the Alipay merchant portal.", method, displayText(problem, 300)))
}
