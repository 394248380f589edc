package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// qrStory is the demo's second order: a QR code shown in the chat, the
// agent waiting for the payment, and the buyer paying while it waits.
func (d *demo) qrStory(ctx context.Context) error {
	no := "DEMO-QR-" + time.Now().Format("20060102-150405") + "-" + randomHex(3)
	d.heading("第二单: 二维码付款", "A second order: pay by QR code")
	d.printf("   另一位客户在电脑上聊天, 用手机支付宝扫码付款 / another customer chats on a computer and pays by scanning with the Alipay app\n")
	res, err := d.call(ctx, tools.NameQRPay, fmt.Sprintf(`{"outTradeNo":%q,"totalAmount":88.00,"orderTitle":"头像插画 Avatar illustration","timeoutMinutes":30}`, no))
	if err != nil {
		return err
	}
	code := structuredField(res, "qrCode")
	if res.IsError || code == "" {
		return errors.New("未创建二维码 / no QR code was created")
	}
	img, err := resultImage(res)
	if err != nil {
		return err
	}
	d.printf("   结果中的二维码图片 (image/png, %d×%d px), 在终端里画出来 / the QR image in the result (image/png, %d×%d px), drawn in the terminal:\n",
		img.Bounds().Dx(), img.Bounds().Dy(), img.Bounds().Dx(), img.Bounds().Dy())
	for _, line := range terminalQR(img) {
		d.printf("     %s\n", line)
	}

	d.heading("代理等待付款, 买家在等待中付款", "The agent waits; the buyer pays while it waits")
	args := fmt.Sprintf(`{"outTradeNo":%q,"timeoutSeconds":45}`, no)
	d.printf("   → %s %s (带 progressToken / with a progressToken)\n", tools.NameWaitPay, args)
	p := &mcp.CallToolParams{Name: tools.NameWaitPay, Arguments: json.RawMessage(args)}
	p.SetProgressToken("demo-wait")
	type answer struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := d.cs.CallTool(ctx, p)
		done <- answer{r, err}
	}()
	paid := false
	for {
		select {
		case msg := <-d.progress:
			d.printf("   … 进度 / progress %s\n", msg)
			if !paid {
				paid = true
				d.printf("   买家扫码并付款 (本地收银台, 通过 HTTP 模拟) / the buyer scans and pays (local cashier, simulated over HTTP)\n")
				if _, err := localalipay.PayLink(ctx, code); err != nil {
					return fmt.Errorf("付款失败 / paying the QR code failed: %w", err)
				}
			}
		case a := <-done:
			if a.err != nil {
				return fmt.Errorf("%s: %w", tools.NameWaitPay, a.err)
			}
			d.printf("   ← 结果 / result:\n")
			d.indent(resultText(a.res))
			if a.res.IsError || structuredField(a.res, "result") != "paid" || !paid {
				return errors.New("等待结果不是已付款 / the wait did not answer paid")
			}
			d.printf("   ✓ 代理在等待中得知已付款 / the agent learnt of the payment while waiting\n")
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// resultImage decodes a result's PNG image.
func resultImage(res *mcp.CallToolResult) (image.Image, error) {
	for _, c := range res.Content {
		if ic, ok := c.(*mcp.ImageContent); ok && ic.MIMEType == "image/png" {
			img, err := png.Decode(bytes.NewReader(ic.Data))
			if err != nil {
				return nil, fmt.Errorf("二维码图片无法解码 / the QR image is not a PNG: %w", err)
			}
			return img, nil
		}
	}
	return nil, errors.New("结果中没有二维码图片 / the result has no QR image")
}

// qrInk and qrReset frame every line of a terminal QR code: dark modules
// in black on a bright white background, whatever the terminal's own
// colours (a light-on-dark terminal would otherwise invert the code, which
// many scanners refuse).
const (
	qrInk   = "\x1b[30;107m"
	qrReset = "\x1b[0m"
)

// terminalQR draws a QR image with half blocks, two module rows per line,
// dark on light with the image's whole quiet zone of four modules. The
// module size is read from the image: the quiet zone is four modules, so
// the first dark pixel of the top-left finder pattern is at 4 modules.
func terminalQR(img image.Image) []string {
	b := img.Bounds()
	dark := func(x, y int) bool {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return r+g+bl < 3*0x8000
	}
	first := -1
	for i := 0; i < b.Dx() && i < b.Dy(); i++ {
		if dark(i, i) {
			first = i
			break
		}
	}
	if first < 4 {
		return []string{"(无法在终端里画出 / cannot draw it here)"}
	}
	scale := first / 4
	n := b.Dx() / scale
	module := func(mx, my int) bool {
		if mx >= n || my >= n {
			return false
		}
		return dark(mx*scale+scale/2, my*scale+scale/2)
	}
	var lines []string
	for my := 0; my < n; my += 2 {
		var line strings.Builder
		line.WriteString(qrInk)
		for mx := 0; mx < n; mx++ {
			top, bottom := module(mx, my), module(mx, my+1)
			switch {
			case top && bottom:
				line.WriteString("█")
			case top:
				line.WriteString("▀")
			case bottom:
				line.WriteString("▄")
			default:
				line.WriteString(" ")
			}
		}
		line.WriteString(qrReset)
		lines = append(lines, line.String())
	}
	return lines
}
