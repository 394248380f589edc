package config

// ToolName pairs a tool's short name, as AP_SELECT_TOOLS accepts it, with its
// full MCP name.
type ToolName struct {
	Short string // mobilePay
	Full  string // create-mobile-alipay-payment
	// OptIn tools are left out of "all" and served only when named: a user
	// who swaps the reference server for this one, keeping AP_SELECT_TOOLS
	// at all, must not find a new tool that can harm an order.
	OptIn bool
}

// ToolNames is the vocabulary of AP_SELECT_TOOLS: the reference's five in
// its order, then ours. The tools package has a test that keeps it equal
// to the registered tools.
//
// "all" adds qrPay (it makes an order, like the two links) and waitPay
// and listOrders (both read-only), which a drop-in user can only benefit
// from; closePay can
// stop an order from being paid, so it is opt-in.
var ToolNames = []ToolName{
	{Short: "mobilePay", Full: "create-mobile-alipay-payment"},
	{Short: "webPagePay", Full: "create-web-page-alipay-payment"},
	{Short: "queryPay", Full: "query-alipay-payment"},
	{Short: "refundPay", Full: "refund-alipay-payment"},
	{Short: "refundQuery", Full: "query-alipay-refund"},
	{Short: "qrPay", Full: "create-alipay-qr-payment"},
	{Short: "closePay", Full: "close-alipay-payment", OptIn: true},
	{Short: "waitPay", Full: "wait-alipay-payment"},
	{Short: "listOrders", Full: "list-alipay-orders"},
}
