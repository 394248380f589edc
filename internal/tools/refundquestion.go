package tools

import (
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// confirmQuestion is the form shown to the user: what is refunded, on which
// order, why, and one required boolean. Texts that come from outside (the
// order's subject as Alipay returns it, the reason the model gave) are put
// on one line and capped, so they cannot fake lines of the question.
func confirmQuestion(d Deps, r alipay.RefundRequest, q *alipay.TradeQuery) *mcp.ElicitParams {
	var b strings.Builder
	fmt.Fprintf(&b, "确认退款 ¥%s 给订单 %s? / Refund ¥%s on order %s?\n", r.RefundAmount, r.OutTradeNo, r.RefundAmount, r.OutTradeNo)
	fmt.Fprintf(&b, "- 退款金额 / refund amount: ¥%s\n", r.RefundAmount)
	fmt.Fprintf(&b, "- 商户订单号 / order number (outTradeNo): %s\n", r.OutTradeNo)
	if q != nil {
		if total, err := alipay.ParseAmount(q.TotalAmount); err == nil {
			fmt.Fprintf(&b, "- 订单金额 / order amount: ¥%s\n", total)
		}
		if s := displayTitle(q.Subject, maxSubjectRunes); s != "" {
			fmt.Fprintf(&b, "- 商品 / item: %s\n", s)
		}
		if s := displayText(q.TradeStatus, 32); s != "" {
			fmt.Fprintf(&b, "- 订单状态 / order status: %s\n", s)
		}
	}
	reason := displayTitle(r.RefundReason, 256)
	if reason == "" {
		reason = "(未填写 / none given)"
	}
	fmt.Fprintf(&b, "- 退款原因 (由助手填写) / reason (given by the assistant): %s\n", reason)
	fmt.Fprintf(&b, "- 退款请求号 / outRequestNo: %s\n", r.OutRequestNo)
	b.WriteString("确认后钱会退回买家, 无法撤销; 不确定时请选否。Once confirmed the money goes back to the buyer and cannot be taken back; if unsure, answer no.")
	if d.Local {
		b.WriteString(localNote)
	}
	return &mcp.ElicitParams{
		Mode:    "form",
		Message: b.String(),
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				confirmField: map[string]any{
					"type":        "boolean",
					"title":       "确认退款 / Confirm refund",
					"description": fmt.Sprintf("是: 退款 ¥%s 给订单 %s。否或取消: 不退款。Yes refunds ¥%s on order %s; no or cancel refunds nothing.", r.RefundAmount, r.OutTradeNo, r.RefundAmount, r.OutTradeNo),
					"default":     false,
				},
			},
			"required": []string{confirmField},
		},
	}
}

// maxSubjectRunes caps the order subject in the question (Alipay allows 256
// characters; the question needs only enough to recognise the order).
const maxSubjectRunes = 80
