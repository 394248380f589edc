package config

// ToolName pairs a tool's short name, as AP_SELECT_TOOLS accepts it, with its
// full MCP name.
type ToolName struct {
	Short string // mobilePay
	Full  string // create-mobile-alipay-payment
}

// ToolNames is the vocabulary of AP_SELECT_TOOLS, in the reference's order.
// The tools package has a test that keeps it equal to the registered tools.
var ToolNames = []ToolName{
	{"mobilePay", "create-mobile-alipay-payment"},
	{"webPagePay", "create-web-page-alipay-payment"},
	{"queryPay", "query-alipay-payment"},
	{"refundPay", "refund-alipay-payment"},
	{"refundQuery", "query-alipay-refund"},
}
