package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// Ledger is what the tools need of the ledger: one app's records in one
// environment (*ledger.Account). Deps.Ledger nil means nothing is recorded.
type Ledger interface {
	RecordOrder(ctx context.Context, n ledger.NewOrder) (ledger.Order, bool, error)
	MarkClosed(ctx context.Context, outTradeNo string, at time.Time, who string) (ledger.Order, error)
	Order(ctx context.Context, outTradeNo string) (ledger.Order, error)
	RecordStatus(ctx context.Context, s ledger.StatusSeen) (bool, error)
	ReserveRefund(ctx context.Context, r ledger.RefundRequest) (ledger.Refund, bool, error)
	Refund(ctx context.Context, outTradeNo, outRequestNo string) (ledger.Refund, error)
	Refunds(ctx context.Context, outTradeNo string) ([]ledger.Refund, error)
	Step(ctx context.Context, outTradeNo, outRequestNo, step, who, detail string) error
	Settle(ctx context.Context, outTradeNo, outRequestNo, outcome string, byQuery bool, detail string) error
	Audit(ctx context.Context, e ledger.Entry) error
	ListOrders(ctx context.Context, f ledger.Filter) (ledger.Page, error)
}

// whoKey carries who is calling: the MCP client's name, or what the HTTP
// front door says (its token's name).
type whoKey struct{}

// WithWho records who makes the calls under ctx, for the ledger. The stdio
// server leaves it unset and the client's name from initialize is used.
func WithWho(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, whoKey{}, who)
}

func whoOf(ctx context.Context) string {
	w, _ := ctx.Value(whoKey{}).(string)
	return w
}

// clientName is the name the MCP client gave at initialize.
func clientName(req *mcp.CallToolRequest) string {
	if req == nil || req.Session == nil {
		return ""
	}
	ip := req.Session.InitializeParams()
	if ip == nil || ip.ClientInfo == nil {
		return ""
	}
	return ip.ClientInfo.Name
}

// recorded wraps a tool's handler for the ledger: who is calling goes into
// the context, and every call of a tool that is not read-only is appended
// to the audit log (unless the handler wrote the entry itself, as a new
// link does with its order). An audit entry that cannot be written is
// logged: the call's money and orders were recorded before it acted.
func recorded(t ServerTool, l Ledger, logger *slog.Logger) Handler {
	h := t.Handler
	readOnly := t.Tool.Annotations != nil && t.Tool.Annotations.ReadOnlyHint
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, Outcome) {
		if whoOf(ctx) == "" {
			ctx = WithWho(ctx, clientName(req))
		}
		res, out := h(ctx, req)
		if l == nil || readOnly || out.audited || out.Status == "invalid_input" {
			return res, out
		}
		result := out.Status
		if out.Code != "" {
			result += " " + out.Code
		}
		if out.SubCode != "" {
			result += " " + out.SubCode
		}
		if err := l.Audit(ctx, ledger.Entry{Who: whoOf(ctx), Action: t.Tool.Name, OutTradeNo: out.OutTradeNo,
			OutRequestNo: out.OutRequestNo, Amount: out.Amount, Result: result}); err != nil && logger != nil {
			logger.LogAttrs(ctx, slog.LevelError, "审计记录未写入 / audit entry not written", slog.String("tool", t.Tool.Name), slog.String("error", err.Error()))
		}
		return res, out
	}
}

// notDoneLedger refuses an action the ledger could not record first: money
// never moves and no order is made unrecorded.
func notDoneLedger(what string, err error, out Outcome) (*mcp.CallToolResult, Outcome) {
	out.Status, out.Code = "tool_error", "LEDGER_UNAVAILABLE"
	return toolError(fmt.Sprintf("%s账本不可用, 无法先记录, 所以什么都没有做 / the ledger is unavailable, so this could not be recorded first and nothing was done: %v\n"+
		"怎么办 / What to do: 请运营者检查数据库 (AP_DATABASE_URL 或账本文件); 恢复后用同样的参数重试。Ask the operator to check the database (AP_DATABASE_URL or the ledger file); retry with the same arguments once it is back.",
		what, err)), out
}

// isRefusal reports whether err is one of the ledger's own refusals (a
// conflict or a limit) rather than the database failing.
func isRefusal(err error) bool {
	return err != nil && !errors.Is(err, ledger.ErrUnavailable)
}

// recordOrder records the order a link or QR code is being made for,
// before it is made. It returns a result when the call must stop: the
// outTradeNo is known with another amount or title, the order is already
// paid or closed, or the ledger cannot record it.
func recordOrder(ctx context.Context, d Deps, tool, kind string, no string, amount alipay.Amount, title string, until time.Time, out *Outcome, done bool) *mcp.CallToolResult {
	if d.Ledger == nil {
		if c := d.closeOf(ctx, no); !c.closedAt.IsZero() {
			out.Status, out.Code = "refused", "ORDER_CLOSED"
			return toolError(closedOrderText(no, c.closedAt))
		}
		return nil
	}
	who := whoOf(ctx)
	// The entry written with a new order says "recorded" when the call
	// still has to act (a QR code: Alipay creates the trade after this), and
	// the call's own entry follows with its outcome. A link is signed before
	// it is recorded but handed out only after: its entry is the outcome
	// (done), and the call writes no second one.
	result := "recorded"
	if done {
		result = out.Status
	}
	_, created, err := d.Ledger.RecordOrder(ctx, ledger.NewOrder{OutTradeNo: no, Kind: kind, Amount: amount, Title: title, Who: who,
		PayableUntil: until, Audit: &ledger.Entry{Who: who, Action: tool, Amount: amount, Result: result}})
	var oe *ledger.OrderError
	switch {
	case err == nil:
		out.audited = done && created
		return nil
	case errors.As(err, &oe) && errors.Is(err, ledger.ErrOrderFinal) && !oe.Existing.ClosedAt.IsZero() && !oe.Existing.Paid():
		out.Status, out.Code = "refused", "ORDER_CLOSED"
		return toolError(closedOrderText(no, oe.Existing.ClosedAt))
	case errors.As(err, &oe) && errors.Is(err, ledger.ErrOrderFinal):
		out.Status, out.Code = "refused", "ORDER_FINAL"
		return toolError(fmt.Sprintf("未创建支付 / No payment was created: 订单 %s 已是 %s (已支付或已关闭), 不能再付款。Order %s is already %s (paid or closed) and cannot be paid again.\n"+
			"怎么办 / What to do: 已付款的订单用 query-alipay-payment 确认, 不要再发链接; 新的收款请用新的 outTradeNo。"+
			"For a paid order, confirm it with query-alipay-payment and do not send another link; for a new payment use a new outTradeNo.",
			no, oe.Existing.Status, no, oe.Existing.Status))
	case errors.As(err, &oe):
		out.Status, out.Code = "refused", "ACQ.CONTEXT_INCONSISTENT"
		return toolError(fmt.Sprintf("未创建支付 / No payment was created: 订单 %s 已按 ¥%s「%s」创建过; 同一订单号换金额或标题, 支付宝会让买家付款失败 (ACQ.CONTEXT_INCONSISTENT)。"+
			"Order %s was already made for ¥%s \"%s\"; Alipay fails the buyer's payment when the same outTradeNo comes with another amount or title (ACQ.CONTEXT_INCONSISTENT).\n"+
			"怎么办 / What to do: 重发同一个链接时用原来的金额和标题; 报价变了就用新的 outTradeNo。Re-send it with the original amount and title, or use a new outTradeNo for a new quote.",
			no, oe.Existing.Amount, displayTitle(oe.Existing.Title, 80), no, oe.Existing.Amount, displayTitle(oe.Existing.Title, 80)))
	}
	res, o := notDoneLedger("未创建支付 / No payment was created: ", err, *out)
	*out = o
	return res
}

// recordSeen records a status a query saw; read-only calls go on when the
// ledger fails, so the error is only logged.
func recordSeen(ctx context.Context, d Deps, no string, q *alipay.TradeQuery, amount alipay.Amount, source string) {
	if d.Ledger == nil || q == nil {
		return
	}
	_, _ = d.Ledger.RecordStatus(ctx, ledger.StatusSeen{OutTradeNo: no, Status: q.TradeStatus, TradeNo: q.TradeNo, Amount: amount,
		Source: source, Who: whoOf(ctx), PaidAt: paidAt(q.SendPayDate)})
}

// refundedSoFar is what the ledger knows was refunded on an order; ok is
// false when it knows nothing (no ledger, an unknown order, or a failure).
func refundedSoFar(ctx context.Context, d Deps, no string) (alipay.Amount, bool) {
	if d.Ledger == nil {
		return 0, false
	}
	o, err := d.Ledger.Order(ctx, no)
	if err != nil {
		return 0, false
	}
	return o.Refunded, true
}

// unsettledRefundsText lists the order's refunds that were sent and whose
// outcome is unknown (the process died or the answer was lost), one line
// each, and how to settle them; "" when there are none.
func unsettledRefundsText(ctx context.Context, d Deps, no string) string {
	if d.Ledger == nil {
		return ""
	}
	refunds, err := d.Ledger.Refunds(ctx, no)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, r := range refunds {
		if r.Unsettled() {
			fmt.Fprintf(&b, "- 结果未知的退款 / refund with an unknown outcome: outRequestNo %s ¥%s — 用同一个 outRequestNo 调用 query-alipay-refund 结清 / "+
				"call query-alipay-refund with this outRequestNo to settle it\n", displayText(r.OutRequestNo, 64), r.Amount)
		}
	}
	return b.String()
}

// paidAt reads Alipay's send_pay_date (Beijing time); zero if absent.
func paidAt(s string) (t time.Time) {
	if s == "" {
		return t
	}
	v, err := alipay.ParseTimestamp(s)
	if err != nil {
		return t
	}
	return v
}

// ledgerHistory is the RefundHistory of a server with a ledger: the
// refunds every process sharing it recorded as succeeded. Sent is a no-op:
// the refund tool records "sent" in the ledger itself, failing closed.
type ledgerHistory struct{ l Ledger }

func (h ledgerHistory) Sent(context.Context, string, string, alipay.Amount) error { return nil }

func (h ledgerHistory) Succeeded(ctx context.Context, outTradeNo string) ([]KnownRefund, error) {
	refunds, err := h.l.Refunds(ctx, outTradeNo)
	if err != nil {
		return nil, err
	}
	var out []KnownRefund
	for _, r := range refunds {
		if r.Outcome == ledger.OutcomeSucceeded {
			out = append(out, KnownRefund{OutRequestNo: r.OutRequestNo, Amount: r.Amount})
		}
	}
	return out, nil
}
