package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// waitPayment is wait-alipay-payment: it answers when the order is paid or
// closed, or when timeoutSeconds run out, so that clients without resource
// subscriptions hear "paid" without asking again and again.
func waitPayment(d Deps) ServerTool {
	return defineReq("waitPay", NameWaitPay, "等待付款 / Wait for payment",
		"Waits until the order is paid or closed, or until timeoutSeconds (default 45, at most 55) have passed, and says which: paid (with amount, time and trade number), closed, or still waiting (call again to keep waiting). Sends progress notifications while waiting when the client asks for them. Call it after giving the buyer a payment link or QR code.",
		readOnlyAnnotations(), runWait(d))
}

// Wait timing. The watcher (when on) wakes a wait at once; the wait's own
// queries are the fallback, and bounded: at most one per waitPollEvery.
const (
	defaultWaitSeconds = 45
	waitProgressEvery  = 3 * time.Second
)

// waitPollEvery is how often a wait queries on its own: with a watcher it
// only backs the watcher up.
func (d Deps) waitPollEvery() time.Duration {
	switch {
	case d.Watcher != nil && d.Local:
		return 2 * time.Second
	case d.Watcher != nil:
		return 15 * time.Second
	case d.Local:
		return time.Second
	}
	return 5 * time.Second
}

type waitOut struct {
	Result         string         `json:"result"` // paid, closed or waiting
	TradeStatus    string         `json:"tradeStatus"`
	TotalAmount    *alipay.Amount `json:"totalAmount,omitempty"`
	TradeNo        string         `json:"tradeNo,omitempty"`
	PaidAt         string         `json:"paidAt,omitempty"`
	PaidAfterClose bool           `json:"paidAfterClose,omitempty"`
	Reason         string         `json:"reason,omitempty"`   // why closed while NOT_OPENED
	ClosedAt       string         `json:"closedAt,omitempty"` // when the merchant closed it
}

// Reasons a wait answers closed for an order Alipay has no trade for.
const (
	reasonClosedByMerchant = "closed_by_merchant"
	reasonExpired          = "expired"
)

// seen is the latest status a wait knows of.
type seen struct {
	status string             // paywatch.NotOpened or Alipay's trade_status
	trade  *alipay.TradeQuery // nil while NotOpened
}

func runWait(d Deps) runReq {
	return func(ctx context.Context, req *mcp.CallToolRequest, a *args) (*mcp.CallToolResult, Outcome) {
		no := a.text("outTradeNo")
		secs, ok := a.integer("timeoutSeconds")
		if !ok {
			secs = defaultWaitSeconds
		}
		timeout := time.Duration(secs) * time.Second
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()

		var feed *paywatch.Feed
		var ready <-chan struct{}
		if d.Watcher != nil {
			feed = d.Watcher.Subscribe(no)
			defer feed.Close()
			ready = feed.Ready()
			d.Watcher.Watch(no)
		}
		progress := newProgress(req, timeout)

		cur, err := waitQuery(wctx, d, no)
		if err != nil && !transient(err) {
			return alipayError(opWait, err, Outcome{OutTradeNo: no})
		}
		queryErr := err
		poll := time.NewTicker(d.waitPollEvery())
		defer poll.Stop()
		tick := time.NewTicker(waitProgressEvery)
		defer tick.Stop()
		for {
			if cur.status != "" && paywatch.Terminal(cur.status) {
				return waitResult(ctx, d, no, cur), Outcome{Status: "ok", OutTradeNo: no}
			}
			if cur.status == paywatch.NotOpened {
				// Alipay has no trade, so it will never say closed:
				// the merchant's close, or the link's expiry, is final.
				if res := notOpenedFinal(ctx, d, no); res != nil {
					return res, Outcome{Status: "ok", OutTradeNo: no}
				}
			}
			progress.send(wctx, time.Since(start), cur.status)
			select {
			case <-wctx.Done():
				if ctx.Err() != nil {
					// Cancelled by the client: the answer is not read.
					return toolError("已取消等待 / The wait was cancelled."), Outcome{Status: "tool_error", OutTradeNo: no, Code: "CANCELLED"}
				}
				return waitingResult(d, no, cur, secs, queryErr), Outcome{Status: "ok", OutTradeNo: no}
			case <-ready:
				if c, ok := feed.Next(); ok {
					if c.Trade == nil && paywatch.Terminal(c.Status) {
						// Published without the trade's details
						// (a notification): query them. "Paid"
						// is answered only with the amount and
						// trade number, so a failed query keeps
						// waiting (the polls retry).
						s, err := waitQuery(wctx, d, no)
						switch {
						case err == nil:
							cur, queryErr = s, nil
						case paywatch.Paid(c.Status):
							queryErr = err
						default:
							cur = seen{status: c.Status}
						}
						continue
					}
					cur = seen{status: c.Status, trade: c.Trade}
				}
			case <-poll.C:
				s, err := waitQuery(wctx, d, no)
				switch {
				case err == nil:
					cur, queryErr = s, nil
				case wctx.Err() != nil:
				case !transient(err):
					return alipayError(opWait, err, Outcome{OutTradeNo: no})
				default:
					queryErr = err
				}
			case <-tick.C:
			}
		}
	}
}

// waitQuery asks Alipay for the order's status: NotOpened while Alipay
// has no trade.
func waitQuery(ctx context.Context, d Deps, no string) (seen, error) {
	q, err := d.Client.Query(ctx, no)
	switch {
	case alipay.IsSubCode(err, alipay.SubTradeNotExist):
		return seen{status: paywatch.NotOpened}, nil
	case err != nil:
		return seen{}, err
	case q.TradeStatus == "":
		return seen{}, errNoStatus
	}
	return seen{status: q.TradeStatus, trade: q}, nil
}

var errNoStatus = errors.New("alipay.trade.query 的答复缺少 trade_status / alipay.trade.query answered without trade_status")

// transient: waiting on may get a better answer (network, system errors,
// an incomplete answer, a wait that ran out mid-query).
func transient(err error) bool {
	var ae *alipay.Error
	return errors.Is(err, errNoStatus) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &ae) && ae.Retryable
}

// waitResult is the answer for a paid or closed order.
func waitResult(ctx context.Context, d Deps, no string, cur seen) *mcp.CallToolResult {
	out := waitOut{TradeStatus: cur.status}
	var b strings.Builder
	if cur.trade != nil {
		total, problem := checkAnswer(cur.trade.TradeNo, cur.trade.TradeStatus, cur.trade.TotalAmount, "total_amount")
		if problem != "" {
			return incomplete(alipay.MethodQuery, problem)
		}
		out.TotalAmount, out.TradeNo = &total, cur.trade.TradeNo
		// Only a real timestamp: the schema holds 19 characters.
		if _, err := alipay.ParseTimestamp(cur.trade.SendPayDate); err == nil {
			out.PaidAt = cur.trade.SendPayDate
		}
	}
	if paywatch.Paid(cur.status) {
		out.Result = "paid"
		fmt.Fprintf(&b, "买家已付款 / The buyer has paid order %s.\n", no)
		if out.TotalAmount != nil {
			fmt.Fprintf(&b, "- 金额 / amount: ¥%s\n", out.TotalAmount)
		}
		if out.PaidAt != "" {
			fmt.Fprintf(&b, "- 付款时间 / paid at: %s (北京时间 / Beijing time)\n", displayText(out.PaidAt, 32))
		}
		fmt.Fprintf(&b, "- 支付宝交易号 / tradeNo: %s\n", displayText(out.TradeNo, 64))
		fmt.Fprintf(&b, "- 状态 / status: %s — %s", displayText(cur.status, 64), tradeStatusMeaning(cur.status))
		if alert := paidAfterCloseAlert(ctx, d, no, cur.status); alert != "" {
			out.PaidAfterClose = true
			b.WriteString(alert)
		}
	} else {
		out.Result = "closed"
		fmt.Fprintf(&b, "订单 %s 已关闭, 不能再付款 (%s)。Order %s is closed and can no longer be paid (%s).\n", no, displayText(cur.status, 64), no, displayText(cur.status, 64))
		b.WriteString(tradeStatusMeaning(cur.status))
	}
	if d.Local {
		b.WriteString(localNote)
	}
	return success(out, b.String())
}

// waitingResult is the answer when the time ran out before a final status.
func waitingResult(d Deps, no string, cur seen, secs int64, queryErr error) *mcp.CallToolResult {
	out := waitOut{Result: "waiting", TradeStatus: cur.status}
	if out.TradeStatus == "" {
		out.TradeStatus = "UNKNOWN"
	}
	var b strings.Builder
	status := displayText(out.TradeStatus, 64)
	fmt.Fprintf(&b, "等了 %d 秒, 订单 %s 还没有付款 (状态 %s)。再调用一次 %s 继续等待。\n", secs, no, status, NameWaitPay)
	fmt.Fprintf(&b, "Waited %d s; order %s is not paid yet (status %s): call again to keep waiting (%s).", secs, no, status, NameWaitPay)
	if cur.status == paywatch.NotOpened {
		b.WriteString("\n买家还没有打开支付链接或扫二维码。The buyer has not opened the payment link or scanned the QR code yet.")
	}
	if queryErr != nil {
		fmt.Fprintf(&b, "\n最近一次查询失败 / The last query failed: %s", displayErr(queryErr))
	}
	if d.Local {
		b.WriteString(localNote)
	}
	return success(out, b.String())
}

// progress sends notifications/progress when the client gave a token.
type progress struct {
	req   *mcp.CallToolRequest
	token any
	total time.Duration
	last  time.Time
}

func newProgress(req *mcp.CallToolRequest, total time.Duration) *progress {
	p := &progress{req: req, total: total}
	if req != nil && req.Params != nil && req.Session != nil {
		p.token = req.Params.GetProgressToken()
	}
	return p
}

// send reports progress, at most once per waitProgressEvery.
func (p *progress) send(ctx context.Context, elapsed time.Duration, status string) {
	if p.token == nil || time.Since(p.last) < waitProgressEvery-100*time.Millisecond {
		return
	}
	p.last = time.Now()
	if status == "" {
		status = "UNKNOWN"
	}
	_ = p.req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
		ProgressToken: p.token,
		Progress:      elapsed.Seconds(),
		Total:         p.total.Seconds(),
		Message:       fmt.Sprintf("等待买家付款, 状态 %s / waiting for the buyer to pay, status %s", status, status),
	})
}

// notOpenedFinal is the final answer for an order Alipay has no trade for
// that the merchant closed, or whose links have expired; nil while it can
// still be opened and paid.
func notOpenedFinal(ctx context.Context, d Deps, no string) *mcp.CallToolResult {
	c := d.closeOf(ctx, no)
	out := waitOut{Result: "closed", TradeStatus: paywatch.NotOpened}
	var b strings.Builder
	switch {
	case !c.closedAt.IsZero():
		out.Reason, out.ClosedAt = reasonClosedByMerchant, alipay.FormatTimestamp(c.closedAt)
		fmt.Fprintf(&b, "订单 %s 已于 %s (北京时间) 由你关闭; 买家还没有打开链接, 支付宝没有这笔交易。不要再发这个链接或二维码; 新的收款请用新的 outTradeNo。\n", no, out.ClosedAt)
		fmt.Fprintf(&b, "Closed by you at %s (Beijing time): order %s; the buyer has not opened its link, and Alipay has no trade for it. Do not resend its link or QR code; use a new outTradeNo for a new payment.", out.ClosedAt, no)
		if !c.payableUntil.IsZero() && time.Now().Before(c.payableUntil) {
			until := alipay.FormatTimestamp(c.payableUntil)
			fmt.Fprintf(&b, "\n链接在 %s 之前仍可能被打开; 本服务器关注着它, 买家打开时会关闭交易, 若买家抢先付款会报警报。The link could still be opened until %s; the server closes the trade when the buyer opens it, and raises an alert if a payment gets through first.", until, until)
		}
	case !c.payableUntil.IsZero() && !time.Now().Before(c.payableUntil):
		out.Reason = reasonExpired
		until := alipay.FormatTimestamp(c.payableUntil)
		fmt.Fprintf(&b, "订单 %s 的链接或二维码已于 %s (北京时间) 过期, 买家没有打开过, 不能再付款。新的收款请用新的 outTradeNo。\n", no, until)
		fmt.Fprintf(&b, "Order %s's link or QR code expired at %s (Beijing time) without being opened; it can no longer be paid. Use a new outTradeNo for a new payment.", no, until)
	default:
		return nil
	}
	if d.Local {
		b.WriteString(localNote)
	}
	return success(out, b.String())
}

// paidAfterCloseAlert is the alert for a paid order the merchant had
// closed through this server (the ledger knows, whichever process or run
// closed it), or "" for any other.
func paidAfterCloseAlert(ctx context.Context, d Deps, no, status string) string {
	if !paywatch.Paid(status) {
		return ""
	}
	at := d.closeOf(ctx, no).closedAt
	if at.IsZero() {
		return ""
	}
	return fmt.Sprintf("\n\n警报 / ALERT: 这笔订单在 %s 被关闭过, 但买家仍然付了款 (链接当时在支付宝还没有交易, 关闭不了)。请告诉商户; 如果不再发货, 先和用户确认, 再用 refund-alipay-payment 全额退款。"+
		"This order was closed at %s, yet the buyer paid (its link had no trade at Alipay then, so the close could not stop it). Tell the merchant; if the order will not be delivered, confirm with the user and refund it in full with refund-alipay-payment.",
		alipay.FormatTimestamp(at), alipay.FormatTimestamp(at))
}
