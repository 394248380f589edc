package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"rsc.io/qr"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// createQRPayment is create-alipay-qr-payment: a face-to-face QR code
// (alipay.trade.precreate) shown as an image in the conversation.
func createQRPayment(d Deps) ServerTool {
	return define("qrPay", NameQRPay, "创建支付二维码 / Create payment QR code",
		"Creates an Alipay face-to-face order (alipay.trade.precreate) and returns its QR code as a PNG image and as text; the buyer scans it with the Alipay app. Use it when the buyer sees the payment on a computer screen or in this chat window.",
		linkAnnotations(), runQR(d))
}

type qrOut struct {
	QRCode    string `json:"qrCode"`
	ExpiresAt string `json:"expiresAt"`
}

// minQRPixels is the least width of the QR image: a phone camera reads it
// from a screen at arm's length.
const minQRPixels = 256

func runQR(d Deps) run {
	return func(ctx context.Context, a *args) (*mcp.CallToolResult, Outcome) {
		no := a.text("outTradeNo")
		timeout := d.payTimeout()
		if m, ok := a.integer("timeoutMinutes"); ok {
			timeout = time.Duration(m) * time.Minute
		}
		expires := expiryAfter(time.Now(), timeout)
		pr := alipay.PrecreateRequest{
			OutTradeNo:  no,
			TotalAmount: a.amount("totalAmount"),
			Subject:     a.text("orderTitle"),
			TimeExpire:  alipay.FormatTimestamp(expires),
		}
		out := Outcome{Status: "ok", OutTradeNo: no, Amount: pr.TotalAmount}
		if res := recordOrder(ctx, d, NameQRPay, "qr", no, pr.TotalAmount, pr.Subject, expires, &out, false); res != nil {
			return res, out
		}
		res, err := d.Client.Precreate(ctx, pr)
		if err != nil {
			r, o := alipayError(opQR, err, out)
			o.Amount = out.Amount
			return r, o
		}
		png, err := qrPNG(res.QRCode)
		if err != nil {
			return toolError(fmt.Sprintf("无法把支付宝返回的二维码内容画成图片 / Could not draw Alipay's qr_code as an image: %s\n"+
					"怎么办 / What to do: 订单已在支付宝创建; 改用支付链接, 或稍后重试。The order exists at Alipay; send a payment link instead, or retry later.", displayErr(err))),
				Outcome{Status: "tool_error", OutTradeNo: no, Code: "QR_IMAGE", Amount: out.Amount}
		}
		d.expiries.remember(no, expires)
		if d.Watcher != nil {
			d.Watcher.Watch(no)
		}
		result := success(qrOut{QRCode: res.QRCode, ExpiresAt: pr.TimeExpire}, qrText(d, pr, res.QRCode))
		result.Content = append(result.Content, &mcp.ImageContent{Data: png, MIMEType: "image/png"})
		return result, out
	}
}

// qrPNG draws text as a QR code a phone can scan from a screen: error
// correction M (15% of the code may be unreadable), the standard quiet zone
// of four modules, and at least minQRPixels wide.
func qrPNG(text string) ([]byte, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, err
	}
	modules := c.Size + 8 // rsc.io/qr draws four modules of quiet zone on each side
	c.Scale = max(4, (minQRPixels+modules-1)/modules)
	return c.PNG(), nil
}

func qrText(d Deps, pr alipay.PrecreateRequest, code string) string {
	var b strings.Builder
	b.WriteString("已创建支付宝当面付二维码 / Alipay payment QR code created.\n\n")
	b.WriteString("请把下面的二维码图片展示给买家, 用支付宝 App 扫码付款。Show the QR code image below to the buyer, who scans it with the Alipay app.\n")
	fmt.Fprintf(&b, "二维码内容 / QR code content: %s\n\n", code)
	fmt.Fprintf(&b, "- 商户订单号 / outTradeNo: %s\n", pr.OutTradeNo)
	fmt.Fprintf(&b, "- 金额 / amount: ¥%s\n", pr.TotalAmount)
	fmt.Fprintf(&b, "- 标题 / title: %s\n", displayTitle(pr.Subject, 256))
	fmt.Fprintf(&b, "- 有效期至 / payable until: %s (北京时间 / Beijing time; 之后未付款的订单自动关闭 / an unpaid order closes then)\n\n", pr.TimeExpire)
	b.WriteString("买家扫码后支付宝才创建这笔交易, 在此之前 query-alipay-payment 会返回 ACQ.TRADE_NOT_EXIST。\n")
	b.WriteString("Alipay creates the trade only when the buyer scans the code; until then query-alipay-payment answers ACQ.TRADE_NOT_EXIST.")
	b.WriteString(watchText(d, pr.OutTradeNo))
	if d.Local {
		b.WriteString("\n\n本地支付宝: 二维码指向本机的收银台, 在浏览器中打开二维码内容即可付款。LOCAL Alipay: the code opens the local cashier; open its content in a browser to pay.")
		b.WriteString(localNote)
	}
	return b.String()
}
