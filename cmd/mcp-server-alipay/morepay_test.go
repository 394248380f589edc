package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// decodeQRImage decodes the result's PNG with ZXing's QR decoder.
func decodeQRImage(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	for _, c := range res.Content {
		ic, ok := c.(*mcp.ImageContent)
		if !ok {
			continue
		}
		if ic.MIMEType != "image/png" {
			t.Fatalf("image type %s", ic.MIMEType)
		}
		img, err := png.Decode(bytes.NewReader(ic.Data))
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() < 256 {
			t.Errorf("image %d px wide, want at least 256", img.Bounds().Dx())
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		r, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
		if err != nil {
			t.Fatalf("ZXing cannot decode the QR image: %v", err)
		}
		return r.GetText()
	}
	t.Fatalf("no image in the result:\n%s", resText(res))
	return ""
}

// progressSeen counts progress notifications.
type progressSeen struct {
	mu   sync.Mutex
	n    int
	last string
	ch   chan struct{}
}

func (p *progressSeen) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	p.n++
	p.last = req.Params.Message
	p.mu.Unlock()
	select {
	case p.ch <- struct{}{}:
	default:
	}
}

func (p *progressSeen) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// Acceptance, through the binary in local mode: the QR image decodes to
// qrCode; a buyer who pays it while the agent waits makes the wait answer
// paid, with progress notifications on the way.
func TestQRPayAndWaitThroughBinary(t *testing.T) {
	prog := &progressSeen{ch: make(chan struct{}, 100)}
	s := newEnv(t, nil).connectOpts(t, "e2e-qr", &mcp.ClientOptions{ProgressNotificationHandler: prog.handle}, nil)
	no := orderNo("QR")
	res := s.call(t, tools.NameQRPay, `{"outTradeNo":"`+no+`","totalAmount":199.00,"orderTitle":"定制插画 Custom illustration"}`)
	mustOK(t, res)
	code := structuredField(res, "qrCode")
	if got := decodeQRImage(t, res); got != code || code == "" {
		t.Fatalf("the image decodes to %q, qrCode is %q", got, code)
	}

	p := &mcp.CallToolParams{Name: tools.NameWaitPay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","timeoutSeconds":55}`)}
	p.SetProgressToken("qr-wait")
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		r, err := s.CallTool(ctx, p)
		if err != nil {
			r = &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
		}
		done <- r
	}()
	select {
	case <-prog.ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no progress notification while waiting")
	}
	if _, err := localalipay.PayLink(context.Background(), code); err != nil { // the buyer scans and pays
		t.Fatal(err)
	}
	var w *mcp.CallToolResult
	select {
	case w = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("the wait did not answer")
	}
	mustOK(t, w)
	if structuredField(w, "result") != "paid" || !strings.Contains(resText(w), "¥199.00") || structuredField(w, "tradeNo") == "" {
		t.Fatalf("wait answered:\n%s", resText(w))
	}
	if prog.count() < 1 || !strings.Contains(prog.last, "waiting for the buyer") {
		t.Errorf("%d progress notifications, last %q", prog.count(), prog.last)
	}
}

// Acceptance: close makes an opened order unpayable, and says honestly
// that an unopened link had nothing to close (and until when it is payable);
// a paid order is refused with a pointer to refund.
func TestCloseThroughBinary(t *testing.T) {
	s := newEnv(t, map[string]string{"AP_SELECT_TOOLS": "all,closePay", "AP_PAY_TIMEOUT": "30m"}).connect(t)
	link := func(no string) string {
		res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":50,"orderTitle":"报价 Quote"}`)
		mustOK(t, res)
		return structuredField(res, "url")
	}
	opened := orderNo("CLOSE")
	u := link(opened)
	if _, err := localalipay.OpenLink(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	res := s.call(t, tools.NameClosePay, `{"outTradeNo":"`+opened+`"}`)
	mustOK(t, res)
	if structuredField(res, "tradeStatus") != "TRADE_CLOSED" {
		t.Fatalf("close:\n%s", resText(res))
	}
	if _, err := localalipay.PayLink(context.Background(), u); !errors.Is(err, localalipay.ErrCashier) {
		t.Fatalf("paying a closed order: %v", err)
	}

	unopened := orderNo("CLOSE")
	u = link(unopened)
	res = s.call(t, tools.NameClosePay, `{"outTradeNo":"`+unopened+`"}`)
	mustOK(t, res)
	until := structuredField(res, "payableUntil")
	if structuredField(res, "tradeStatus") != "NOT_OPENED" || until == "" || !strings.Contains(resText(res), "nothing was closed") {
		t.Fatalf("close of an unopened link:\n%s", resText(res))
	}
	// The buyer opens the link anyway: the server closes the trade, and
	// the link cannot be paid.
	if _, err := localalipay.OpenLink(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	w := s.call(t, tools.NameWaitPay, `{"outTradeNo":"`+unopened+`","timeoutSeconds":20}`)
	if structuredField(w, "result") != "closed" {
		t.Fatalf("wait after the buyer opened a closed order:\n%s", resText(w))
	}
	if _, err := localalipay.PayLink(context.Background(), u); !errors.Is(err, localalipay.ErrCashier) {
		t.Fatalf("paying the closed order: %v", err)
	}

	paid := orderNo("CLOSE")
	if _, err := localalipay.PayLink(context.Background(), link(paid)); err != nil {
		t.Fatal(err)
	}
	mustToolError(t, s.call(t, tools.NameClosePay, `{"outTradeNo":"`+paid+`"}`), "cannot be closed", "refund-alipay-payment")
	// Bad input is a tool error; the server is still up.
	mustToolError(t, s.call(t, tools.NameWaitPay, `{"outTradeNo":"`+paid+`","timeoutSeconds":60}`), "timeoutSeconds")
	mustToolError(t, s.call(t, tools.NameClosePay, `{"outTradeNo":"`+paid+`","force":true}`), "force")
	if structuredField(s.call(t, tools.NameWaitPay, `{"outTradeNo":"`+paid+`"}`), "result") != "paid" {
		t.Error("the server stopped answering after bad input")
	}
}

// Acceptance: read-only mode lists only the read-only tools and refuses the
// others by name; doctor says the mode is on.
func TestReadOnlyThroughBinary(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_READ_ONLY": "true", "AP_SELECT_TOOLS": "all,closePay"})
	s := e.connect(t)
	lt, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range lt.Tools {
		if !tl.Annotations.ReadOnlyHint {
			t.Errorf("%s is listed but not read-only", tl.Name)
		}
		names = append(names, tl.Name)
	}
	if got := strings.Join(names, ","); got != "list-alipay-orders,query-alipay-payment,query-alipay-refund,wait-alipay-payment" {
		t.Errorf("read-only tools: %s", got)
	}
	if !strings.Contains(s.InitializeResult().Instructions, "AP_READ_ONLY=true") {
		t.Error("instructions do not say read-only mode is on")
	}
	for _, name := range []string{tools.NameRefundPay, tools.NameWebPagePay, tools.NameMobilePay, tools.NameQRPay, tools.NameClosePay} {
		mustToolError(t, s.call(t, name, `{}`), name, "AP_READ_ONLY=true", "Read-only mode")
	}
	out, err := e.command("doctor").CombinedOutput()
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "read-only mode") || !strings.Contains(string(out), "AP_READ_ONLY=true") {
		t.Errorf("doctor does not say read-only mode is on:\n%s", out)
	}
}

// Read-only mode that leaves no tool fails closed: the server does not
// start (exit 2, like every configuration error) and doctor fails.
func TestReadOnlyNothingServedThroughBinary(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_READ_ONLY": "true", "AP_SELECT_TOOLS": "refundPay"})
	const msg = "只读模式下所选工具都不是只读的 / read-only mode leaves no tool to serve"
	_, stderr, code := runBinary(t, e)
	if code != 2 || !strings.Contains(stderr, msg) || strings.Contains(stderr, "serving only") {
		t.Errorf("serve: exit %d, stderr:\n%s", code, stderr)
	}
	out, _, code := runBinary(t, e, "doctor")
	if code != 1 || !strings.Contains(out, msg) || strings.Contains(out, "0 个工具") {
		t.Errorf("doctor: exit %d:\n%s", code, out)
	}
}
