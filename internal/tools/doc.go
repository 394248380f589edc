// Package tools is the MCP surface of the server: the five Alipay tools with
// their schemas, annotations, input validation, results and server
// instructions, and the alipay://trade/{outTradeNo} order status resource.
package tools
