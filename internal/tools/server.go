package tools

import (
	"fmt"
	"log/slog"
	"slices"

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

// Options configure NewServer.
type Options struct {
	Deps    Deps
	Tools   []string     // full names of the tools to register; nil = all
	Logger  *slog.Logger // one line per tool call; nil = no call log
	Version string       // reported in serverInfo
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
	resource := o.Deps.Client != nil && ResourceSelected(o.Tools)
	if resource {
		resourceOptions(o.Deps, so)
	} else {
		o.Deps.Watcher = nil
	}
	s := mcp.NewServer(&mcp.Implementation{
		Name:    "mcp-server-alipay",
		Title:   "支付宝 MCP Server / Alipay MCP Server",
		Version: o.Version,
	}, so)
	all := All(o.Deps)
	known := make([]string, len(all))
	for i, t := range all {
		known[i] = t.Tool.Name
	}
	for _, name := range o.Tools {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("未知的工具 / unknown tool %q; known tools: %v", name, known)
		}
	}
	for _, t := range all {
		if o.Tools != nil && !slices.Contains(o.Tools, t.Tool.Name) {
			continue
		}
		s.AddTool(t.Tool, t.MCPHandler(o.Logger))
	}
	if resource {
		addTradeResource(s, o.Deps)
	}
	return s, nil
}

// ResourceSelected reports whether a tool selection (full names; nil = all)
// gets the order status resource and payment watching: only with
// query-alipay-payment.
func ResourceSelected(selected []string) bool {
	return selected == nil || slices.Contains(selected, NameQueryPay)
}
