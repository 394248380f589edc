package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// Tool names, as the reference server registers them.
const (
	NameMobilePay   = "create-mobile-alipay-payment"
	NameWebPagePay  = "create-web-page-alipay-payment"
	NameQueryPay    = "query-alipay-payment"
	NameRefundPay   = "refund-alipay-payment"
	NameRefundQuery = "query-alipay-refund"
)

// Names of our own tools.
const (
	NameQRPay    = "create-alipay-qr-payment"
	NameClosePay = "close-alipay-payment"
	NameWaitPay  = "wait-alipay-payment"
)

// linkAnnotations: creating a link adds an order, changes nothing existing,
// and a second call makes a new signed link, so it is not idempotent.
func linkAnnotations() mcp.ToolAnnotations {
	return mcp.ToolAnnotations{
		ReadOnlyHint:    false,
		DestructiveHint: boolPtr(false),
		IdempotentHint:  false,
		OpenWorldHint:   boolPtr(true),
	}
}

// createMobilePayment is create-mobile-alipay-payment: a link for a phone
// browser (alipay.trade.wap.pay).
func createMobilePayment(d Deps) ServerTool {
	return define("mobilePay", NameMobilePay, "创建手机支付链接 / Create mobile payment link",
		"Creates an Alipay order and returns a payment link for a phone browser, which opens the Alipay app or pays in the browser. Use it for mobile websites and apps. "+titleRules,
		linkAnnotations(), createLink(d, true))
}

// createWebPagePayment is create-web-page-alipay-payment: a link for a
// desktop browser that shows a QR code (alipay.trade.page.pay).
func createWebPagePayment(d Deps) ServerTool {
	return define("webPagePay", NameWebPagePay, "创建电脑网站支付链接 / Create desktop payment link",
		"Creates an Alipay order and returns a payment link for a desktop browser, which shows a QR code the buyer scans with Alipay. Use it for desktop websites and PC apps. "+titleRules,
		linkAnnotations(), createLink(d, false))
}

// titleRules says what becomes of orderTitle on its way to Alipay.
const titleRules = "订单标题中的换行以一个空格发给支付宝; 不能含 '/'、'=' 或 '&' (支付宝拒收)。 " +
	"Line breaks in orderTitle reach Alipay as one space; '/', '=' and '&' are refused, as Alipay refuses them in the subject."

type linkOut struct {
	URL string `json:"url"`
}

func createLink(d Deps, mobile bool) run {
	return func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome) {
		// Every link expires: an order the merchant closes before the
		// buyer opens its link has no trade to close at Alipay, and the
		// link must not stay payable for Alipay's default 15 days.
		expires := expiryAfter(time.Now(), d.payTimeout())
		pr := alipay.PayRequest{
			OutTradeNo:  a.text("outTradeNo"),
			TotalAmount: a.amount("totalAmount"),
			Subject:     a.text("orderTitle"),
			TimeExpire:  alipay.FormatTimestamp(expires),
		}
		out := Outcome{Status: "ok", OutTradeNo: pr.OutTradeNo, Amount: pr.TotalAmount}
		kind, tool := "web", NameWebPagePay
		if mobile {
			kind, tool = "mobile", NameMobilePay
		}
		// Signing a link moves nothing: it is made first, and handed out
		// only once its order is recorded, so that one write records both
		// the order and the call. If the record fails, the link is dropped.
		var link string
		var err error
		if mobile {
			link, err = d.Client.WapPayURL(pr)
		} else {
			link, err = d.Client.PagePayURL(pr)
		}
		if err != nil {
			res, o := alipayError(opLink, err, out)
			o.Amount = out.Amount
			return res, o
		}
		if res := recordOrder(ctx, d, tool, kind, pr.OutTradeNo, pr.TotalAmount, pr.Subject, expires, &out, true); res != nil {
			return res, out
		}
		d.expiries.remember(pr.OutTradeNo, expires)
		if d.Watcher != nil {
			d.Watcher.Watch(pr.OutTradeNo)
		}
		return success(linkOut{URL: link}, linkText(d, mobile, pr, link)), out
	}
}

func linkText(d Deps, mobile bool, pr alipay.PayRequest, link string) string {
	var b strings.Builder
	if mobile {
		b.WriteString("已创建支付宝手机支付链接 / Alipay mobile payment link created.\n\n")
	} else {
		b.WriteString("已创建支付宝电脑网站支付链接 / Alipay desktop payment link created.\n\n")
	}
	fmt.Fprintf(&b, "[点击支付 / Pay](%s)\n\n", link)
	fmt.Fprintf(&b, "- 商户订单号 / outTradeNo: %s\n", pr.OutTradeNo)
	fmt.Fprintf(&b, "- 金额 / amount: ¥%s\n", pr.TotalAmount)
	// The title is the model's text: shown on one line, without markup
	// (displayTitle), so the link above stays the only link.
	fmt.Fprintf(&b, "- 标题 / title: %s\n", displayTitle(pr.Subject, 256))
	fmt.Fprintf(&b, "- 有效期至 / payable until: %s (北京时间 / Beijing time; 之后未付款的订单自动关闭 / an unpaid order closes then)\n\n", pr.TimeExpire)
	if mobile {
		b.WriteString("在手机上打开链接, 会唤起支付宝或在浏览器中付款。Open the link on a phone: it opens Alipay or pays in the browser.\n")
	} else {
		b.WriteString("在电脑浏览器中打开链接, 页面会显示二维码, 用支付宝扫码付款。Open the link in a desktop browser: it shows a QR code to scan with Alipay.\n")
	}
	b.WriteString("请把上面的 Markdown 链接原样发给买家。买家打开链接后支付宝才创建这笔交易, 在此之前 query-alipay-payment 会返回 ACQ.TRADE_NOT_EXIST。\n")
	b.WriteString("Give the buyer the Markdown link above as is. Alipay creates the trade only when the buyer opens the link; until then query-alipay-payment answers ACQ.TRADE_NOT_EXIST.")
	b.WriteString(watchText(d, pr.OutTradeNo))
	if d.Local {
		b.WriteString(localNote)
	}
	return b.String()
}

// watchText is the line of a link or QR result on how to learn that the
// buyer has paid.
func watchText(d Deps, no string) string {
	var b strings.Builder
	if d.canWait {
		fmt.Fprintf(&b, "\n发给买家后, 调用 %s (outTradeNo %s) 等待付款结果。\nAfter giving it to the buyer, call %s with this outTradeNo to wait for the payment.", NameWaitPay, no, NameWaitPay)
	}
	if d.Watcher != nil {
		uri := TradeURI(no)
		fmt.Fprintf(&b, "\n本服务器正在关注这笔订单: 订阅资源 %s 可在买家付款时收到通知, 或调用 query-alipay-payment 查询。\n", uri)
		fmt.Fprintf(&b, "This server is watching this order: subscribe to %s to be told when the buyer has paid, or call query-alipay-payment.", uri)
	}
	return b.String()
}
