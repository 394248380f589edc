package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Instructions tell the model how to use the tools well. They are sent in
// the initialize result.
const Instructions = `支付宝 MCP Server: 创建支付宝支付链接, 查询支付, 退款和查询退款。
Alipay MCP server: create Alipay payment links, query payments, refund, and query refunds.

选择链接 / Which link:
- 用户在电脑屏幕上看到支付界面 (桌面网站、PC 软件): 用 create-web-page-alipay-payment, 链接在电脑浏览器中显示二维码, 用手机支付宝扫码付款。
  The buyer sees the payment on a computer screen (desktop website or PC app): use create-web-page-alipay-payment; the link shows a QR code to scan with Alipay.
- 用户在手机浏览器里付款 (手机网页、H5、移动 App): 用 create-mobile-alipay-payment, 链接直接唤起支付宝或在浏览器中付款。
  The buyer pays inside a phone browser (mobile web page, H5, mobile app): use create-mobile-alipay-payment; the link opens Alipay directly.
- 不确定时, 问用户在什么设备上付款。If unsure, ask on which device the buyer pays.

规则 / Rules:
- outTradeNo 必须来自商户自己的订单系统, 每个订单唯一 (1-64 个字母、数字、_ 或 -); 不要为已有订单编造新号, 查询和退款都用同一个。
  outTradeNo must come from the merchant's own order system, unique per order (1-64 letters, digits, _ or -); never invent one for an existing order, and use the same one to query and refund it.
- 金额以元为单位, 最多两位小数, 用 JSON 数字 (例如 19.99)。Amounts are yuan with at most two decimals, as JSON numbers (e.g. 19.99).
- 把结果文本里的 Markdown 支付链接原样展示给买家。Show the Markdown payment link from the result text to the buyer as is.
- 刚创建链接后, 买家打开链接之前, query-alipay-payment 会返回 ACQ.TRADE_NOT_EXIST, 这是正常的: 请买家打开链接付款后再查询。只有 TRADE_SUCCESS 和 TRADE_FINISHED 表示已付款。
  Right after a link is created, query-alipay-payment answers ACQ.TRADE_NOT_EXIST until the buyer opens the link; that is normal: ask the buyer to open it and pay, then query again. Only TRADE_SUCCESS and TRADE_FINISHED mean paid.
- 退款会转出真实资金, 先和用户确认 (客户端支持时, 服务器会直接请用户确认)。每一笔退款用一个新的 outRequestNo (同一订单内唯一); 结果未知需要重试时, 用同一个 outRequestNo 和同样金额, 支付宝不会重复退款。用 query-alipay-refund 确认。
  Refunds move real money: confirm with the user first (when the client can ask the user, the server asks them itself). Every refund needs a fresh outRequestNo (unique within the order); when retrying a refund whose outcome was unknown, reuse the SAME outRequestNo and amount, and Alipay never refunds twice. Confirm with query-alipay-refund.`

// readOnlyBase replaces Instructions in read-only mode: it names only what
// is served, never advice to create links or refund with tools that are not.
const readOnlyBase = `支付宝 MCP Server (只读): 查询支付和退款, 等待付款。
Alipay MCP server (read-only): query payments and refunds, and wait for payments.

规则 / Rules:
- outTradeNo 来自商户自己的订单系统, 每个订单唯一; 查询时用创建支付时的同一个。
  outTradeNo comes from the merchant's own order system, unique per order; query with the one the payment was made with.
- 买家打开支付链接之前, 查询会返回 ACQ.TRADE_NOT_EXIST, 这是正常的。只有 TRADE_SUCCESS 和 TRADE_FINISHED 表示已付款。
  Until the buyer opens the payment link, a query answers ACQ.TRADE_NOT_EXIST; that is normal. Only TRADE_SUCCESS and TRADE_FINISHED mean paid.`

// waitInstructions are added when wait-alipay-payment is served.
const waitInstructions = `

等待付款 / Waiting for the payment:
- 把支付链接或二维码发给买家后, 调用 wait-alipay-payment 等待结果 (最多 55 秒一次); 结果是 waiting 时再调用一次继续等。只有结果 paid 才表示已付款。
  After giving the buyer a payment link or QR code, call wait-alipay-payment to wait for the outcome (up to 55 s per call); when it answers waiting, call it again to keep waiting. Only the result paid means paid.`

// qrInstructions are added when create-alipay-qr-payment is served.
const qrInstructions = `

二维码 / QR code:
- 买家在电脑屏幕或这个聊天窗口里看到付款信息、用手机支付宝扫码时, 可以用 create-alipay-qr-payment: 把结果里的二维码图片展示给买家。
  When the buyer sees the payment on a computer screen or in this chat and pays with the Alipay app on a phone, create-alipay-qr-payment gives a QR code image: show it to the buyer.`

// closeInstructions are added when close-alipay-payment is served.
const closeInstructions = `

关闭订单 / Closing an order:
- 报价变了或买家放弃时, 用 close-alipay-payment 关闭未付款的订单, 再为新报价用新的 outTradeNo。已付款的订单不能关闭, 要退款。买家还没打开的链接在支付宝没有交易, 关闭会如实说明链接到何时失效。
  When a quote changes or the buyer gives up, close the unpaid order with close-alipay-payment, and use a new outTradeNo for a new quote. A paid order cannot be closed: refund it. A link the buyer never opened has no trade at Alipay; the close says so, and until when the link stays payable.`

// readOnlyInstructions replace the payment advice in read-only mode.
const readOnlyInstructions = `

只读模式 / Read-only mode (AP_READ_ONLY=true):
- 本服务器只提供只读工具 (查询、等待); 不能创建支付、关闭订单或退款。需要这些操作时, 请用户在支付宝商家平台处理, 或由运营者关闭只读模式。
  This server serves only read-only tools (queries, waiting); it cannot create payments, close orders or refund. For those, ask the user to act in the Alipay merchant portal, or the operator to turn read-only mode off.`

// Options configure NewServer.
type Options struct {
	Deps  Deps
	Tools []string // full names of the tools to register; nil = all but the opt-in ones
	// ReadOnly registers only the tools annotated read-only
	// (AP_READ_ONLY); calls of the others are refused by name.
	ReadOnly bool
	Logger   *slog.Logger // one line per tool call; nil = no call log
	Version  string       // reported in serverInfo
	// OnCall, when not nil, is told of every tool call when it ends: the
	// tool, the outcome status the log line carries, and how long it took.
	// The HTTP service counts calls with it for /metrics.
	OnCall func(tool, outcome string, d time.Duration)
	// PerCaller says that results depend on who calls (the HTTP service
	// filters tools/list by the caller's scopes): list and read results are
	// then marked cacheScope "private" for 2026-07-28 clients, so that no
	// intermediary serves one caller's list to another.
	PerCaller bool
	// GetSessionID, when not nil, makes the Mcp-Session-Id of each new
	// stateful HTTP session (the HTTP service prefixes them with the
	// replica's name, so that a proxy can route a session to its replica).
	GetSessionID func() string
}

// Served returns the full names of the tools a selection (nil = all but
// the opt-in ones) serves, in read-only mode only the read-only ones, in
// canonical order. It is never nil: an empty list means no tool (see
// CheckServed), never "all".
func Served(selected []string, readOnly bool) []string {
	out := []string{}
	for _, t := range All(Deps{}) {
		chosen := selected == nil && !t.OptIn || slices.Contains(selected, t.Tool.Name)
		if chosen && (!readOnly || t.Tool.Annotations.ReadOnlyHint) {
			out = append(out, t.Tool.Name)
		}
	}
	return out
}

// NewServer builds the MCP server with the selected tools, registered with
// the low-level AddTool so the SDK never re-validates amounts with floats,
// and, given a client, the order status resource (resources.go).
//
// The resource reads are payment queries, so it is registered only when
// query-alipay-payment is selected: an operator who left queryPay out of
// AP_SELECT_TOOLS did not want the agent querying payments. Watching (and
// subscriptions, and the link texts offering them) follows the resource:
// without it o.Deps.Watcher is ignored.
func NewServer(o Options) (*mcp.Server, error) {
	so := &mcp.ServerOptions{
		Instructions: Instructions,
		// Advertise exactly tools (and resources below): no logging
		// capability, no list changes.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
	}
	if o.PerCaller {
		so.SetCacheable = func(_ context.Context, _ mcp.Request, c *mcp.Cacheable) { c.CacheScope = "private" }
	}
	so.GetSessionID = o.GetSessionID
	known := make([]string, 0, 8)
	for _, t := range All(Deps{}) {
		known = append(known, t.Tool.Name)
	}
	for _, name := range o.Tools {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("未知的工具 / unknown tool %q; known tools: %v", name, known)
		}
	}
	served := Served(o.Tools, o.ReadOnly)
	if err := CheckServed(served, o.ReadOnly); err != nil {
		return nil, err
	}
	resource := o.Deps.Client != nil && ResourceSelected(served)
	if resource {
		resourceOptions(o.Deps, so)
	} else {
		o.Deps.Watcher = nil
	}
	if o.Deps.expiries == nil {
		o.Deps.expiries = newExpiryBook()
	}
	o.Deps.canWait = slices.Contains(served, NameWaitPay)
	for _, add := range []struct {
		tool, text string
	}{{NameQRPay, qrInstructions}, {NameClosePay, closeInstructions}, {NameWaitPay, waitInstructions}} {
		if slices.Contains(served, add.tool) {
			so.Instructions += add.text
		}
	}
	if o.ReadOnly {
		// Replace, not append: the base text advises creating links and
		// refunding, which read-only mode does not serve.
		so.Instructions = readOnlyBase
		if slices.Contains(served, NameWaitPay) {
			so.Instructions += waitInstructions
		}
		so.Instructions += readOnlyInstructions
	}
	s := mcp.NewServer(&mcp.Implementation{
		Name:    "mcp-server-alipay",
		Title:   "支付宝 MCP Server / Alipay MCP Server",
		Version: o.Version,
	}, so)
	refused := map[string]bool{}
	for _, t := range All(o.Deps) {
		switch {
		case slices.Contains(served, t.Tool.Name):
			t.Handler = recorded(t, o.Deps.Ledger, o.Logger)
			s.AddTool(t.Tool, t.MCPHandler(o.Logger, o.OnCall))
		case o.ReadOnly && !t.Tool.Annotations.ReadOnlyHint:
			refused[t.Tool.Name] = true
		}
	}
	if len(refused) > 0 {
		s.AddReceivingMiddleware(refuseReadOnly(refused, o.Logger))
	}
	if resource {
		addTradeResource(s, o.Deps)
	}
	return s, nil
}

// refuseReadOnly answers a call of a tool that read-only mode left out with
// a tool error that names it and says why, instead of "unknown tool": the
// model learns that the action is off on purpose and should not be tried
// another way.
func refuseReadOnly(refused map[string]bool, logger *slog.Logger) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			call, ok := req.(*mcp.CallToolRequest)
			if method != "tools/call" || !ok || call.Params == nil || !refused[call.Params.Name] {
				return next(ctx, method, req)
			}
			name := call.Params.Name
			if logger != nil {
				logger.LogAttrs(ctx, slog.LevelWarn, "工具调用 / tool call", slog.String("tool", name), slog.String("outcome", "refused"),
					slog.String("code", "READ_ONLY"))
			}
			return toolError(fmt.Sprintf("只读模式 (AP_READ_ONLY=true): 工具 %s 不可用, 它会改变订单或资金, 本服务器没有注册它, 什么都没有做。\n"+
				"Read-only mode (AP_READ_ONLY=true): the tool %s is not available; it is not read-only (it can change orders or move money), so this server does not serve it, and nothing was done.\n"+
				"怎么办 / What to do: 请用户在支付宝商家平台处理, 不要尝试其他方式。Ask the user to do it in the Alipay merchant portal; do not try another way.", name, name)), nil
		}
	}
}

// ResourceSelected reports whether the served tools (Served's answer, full
// names) get the order status resource and payment watching: only with
// query-alipay-payment. An empty list gets nothing.
func ResourceSelected(served []string) bool {
	return slices.Contains(served, NameQueryPay)
}

// ErrNothingServed is CheckServed's error: read-only mode left none of the
// selected tools.
var ErrNothingServed = errors.New("只读模式下所选工具都不是只读的 / read-only mode leaves no tool to serve")

// CheckServed fails closed when a selection serves nothing: a server with
// no tool must not start (nor answer resource reads or watch orders as if
// everything had been selected).
func CheckServed(served []string, readOnly bool) error {
	if len(served) > 0 {
		return nil
	}
	if readOnly {
		return fmt.Errorf("AP_SELECT_TOOLS, AP_READ_ONLY: %w; 在 AP_SELECT_TOOLS 中加入只读工具 (queryPay, refundQuery, waitPay, listOrders) 或关闭 AP_READ_ONLY / "+
			"add a read-only tool (queryPay, refundQuery, waitPay, listOrders) to AP_SELECT_TOOLS, or turn AP_READ_ONLY off", ErrNothingServed)
	}
	return errors.New("AP_SELECT_TOOLS: 没有选择任何工具 / selects no tool")
}

// Scope is the permission a caller needs to use a tool over HTTP.
type Scope string

// The three scopes of the HTTP service's tokens.
const (
	ScopeRead   Scope = "read"   // payment and refund queries, waiting for a payment, listing orders, the order status resource
	ScopePay    Scope = "pay"    // payment links and QR codes, closing an order
	ScopeRefund Scope = "refund" // refunds
)

// ScopeOf is the scope a tool needs; "" for a name that is not one of ours.
func ScopeOf(name string) Scope {
	switch name {
	case NameQueryPay, NameRefundQuery, NameWaitPay, NameListOrders:
		return ScopeRead
	case NameMobilePay, NameWebPagePay, NameQRPay, NameClosePay:
		return ScopePay
	case NameRefundPay:
		return ScopeRefund
	}
	return ""
}
