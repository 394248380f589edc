package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// TradeURITemplate is the resource of an order's payment status.
const TradeURITemplate = "alipay://trade/{outTradeNo}"

const tradeURIPrefix = "alipay://trade/"

// TradeURI is the resource URI of an order.
func TradeURI(outTradeNo string) string { return tradeURIPrefix + outTradeNo }

// watchInstructions are added to Instructions when orders are watched.
const watchInstructions = `

买家何时付款 / When the buyer has paid:
- 本服务器会关注它创建了支付链接的订单。客户端支持资源订阅时, 订阅 alipay://trade/<outTradeNo>, 订单状态变化 (打开、付款、关闭) 时会收到 notifications/resources/updated, 然后读取该资源; 否则调用 query-alipay-payment。
  The server watches the orders it made links for. If your client supports resource subscriptions, subscribe to alipay://trade/<outTradeNo>: you get notifications/resources/updated when the order is opened, paid or closed; then read the resource. Otherwise call query-alipay-payment.`

// tradeTemplate describes the order status resource.
func tradeTemplate() *mcp.ResourceTemplate {
	return &mcp.ResourceTemplate{
		URITemplate: TradeURITemplate,
		Name:        "alipay-trade",
		Title:       "支付宝订单状态 / Alipay order status",
		Description: "一笔订单的当前支付状态 (每次读取都向支付宝查询): tradeStatus 为 NOT_OPENED (买家还没打开支付链接)、WAIT_BUYER_PAY、TRADE_SUCCESS、TRADE_FINISHED 或 TRADE_CLOSED; paid 表示是否已付款。可订阅, 状态变化时收到通知。" +
			" The current payment status of an order, queried from Alipay on every read: tradeStatus is NOT_OPENED (the buyer has not opened the payment link yet), WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED or TRADE_CLOSED; paid says whether the buyer has paid. Subscribe to be told when it changes.",
		MIMEType: "application/json",
	}
}

// tradeStatus is the content of alipay://trade/{outTradeNo}.
type tradeStatus struct {
	OutTradeNo  string         `json:"outTradeNo"`
	TradeStatus string         `json:"tradeStatus"`
	TotalAmount *alipay.Amount `json:"totalAmount,omitempty"` // exact, from fen; absent while NOT_OPENED
	TradeNo     string         `json:"tradeNo,omitempty"`
	Paid        bool           `json:"paid"`
	CheckedAt   string         `json:"checkedAt"` // RFC 3339
	// Refunded is what the ledger recorded as refunded so far; absent
	// when the ledger knows nothing of the order.
	Refunded *alipay.Amount `json:"refunded,omitempty"`
	// PaidAfterClose: paid although the merchant closed it through this
	// server (an alert: refund); absent otherwise.
	PaidAfterClose bool `json:"paidAfterClose,omitempty"`
}

// addTradeResource registers the order status resource, and with a watcher
// tells subscribers of every change it sees. The subscribe handlers must
// already be in the server's options (see resourceOptions).
func addTradeResource(s *mcp.Server, d Deps) {
	s.AddResourceTemplate(tradeTemplate(), readTrade(d))
	if d.Watcher != nil {
		d.Watcher.OnChange(func(ctx context.Context, c paywatch.Change) {
			s.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: TradeURI(c.OutTradeNo)})
		})
	}
}

// resourceOptions advertises resources and, when orders are watched,
// subscriptions and the instructions about them.
func resourceOptions(d Deps, o *mcp.ServerOptions) {
	o.Capabilities.Resources = &mcp.ResourceCapabilities{}
	if d.Watcher == nil {
		return
	}
	o.Capabilities.Resources.Subscribe = true
	o.Instructions += watchInstructions
	o.SubscribeHandler = func(_ context.Context, req *mcp.SubscribeRequest) error {
		no, err := parseTradeURI(req.Params.URI)
		if err != nil {
			return err
		}
		d.Watcher.Watch(no)
		return nil
	}
	// The watch runs on to its deadline: it is bounded, and other sessions
	// may be subscribed to the same order.
	o.UnsubscribeHandler = func(_ context.Context, req *mcp.UnsubscribeRequest) error {
		_, err := parseTradeURI(req.Params.URI)
		return err
	}
}

// readTrade queries the order and returns its status as JSON.
func readTrade(d Deps) mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		no, err := parseTradeURI(req.Params.URI)
		if err != nil {
			return nil, err
		}
		st := tradeStatus{OutTradeNo: no, TradeStatus: paywatch.NotOpened}
		ctx, cancel := context.WithTimeout(ctx, d.budget())
		defer cancel()
		q, err := d.Client.Query(ctx, no)
		switch {
		case alipay.IsSubCode(err, alipay.SubTradeNotExist):
		case err != nil:
			res, _ := alipayError(opQuery, err, Outcome{})
			return nil, readError(res)
		default:
			total, problem := checkAnswer(q.TradeNo, q.TradeStatus, q.TotalAmount, "total_amount")
			if problem != "" {
				return nil, readError(incomplete(alipay.MethodQuery, problem))
			}
			st.TradeStatus, st.TotalAmount, st.TradeNo, st.Paid = q.TradeStatus, &total, q.TradeNo, paywatch.Paid(q.TradeStatus)
			st.PaidAfterClose = paidAfterCloseAlert(ctx, d, no, q.TradeStatus) != ""
			recordSeen(ctx, d, no, q, total, ledger.SourceQuery)
		}
		if refunded, ok := refundedSoFar(ctx, d, no); ok {
			st.Refunded = &refunded
		}
		st.CheckedAt = time.Now().UTC().Format(time.RFC3339)
		b, err := json.Marshal(st)
		if err != nil {
			return nil, fmt.Errorf("marshal the order status: %w", err)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
			{URI: req.Params.URI, MIMEType: "application/json", Text: string(b)},
		}}, nil
	}
}

// readError turns the tool error a query would give into the error of a
// read, with the same codes and advice.
func readError(res *mcp.CallToolResult) error {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: b.String()}
}

// parseTradeURI returns the order number of alipay://trade/<outTradeNo>.
func parseTradeURI(uri string) (string, error) {
	no, ok := strings.CutPrefix(uri, tradeURIPrefix)
	if ok {
		if err := alipay.CheckOutTradeNo("outTradeNo", no); err == nil {
			return no, nil
		}
	}
	return "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
		"资源地址 %q 无效, 应为 alipay://trade/<outTradeNo>, outTradeNo 为 1-64 个字母、数字、_ 或 - / "+
			"invalid resource URI %q: use alipay://trade/<outTradeNo>, where outTradeNo is 1-64 letters, digits, _ or -", displayTitle(shortURI(uri), 100), displayTitle(shortURI(uri), 100))}
}

// shortURI cuts a URI for an error message.
func shortURI(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}
