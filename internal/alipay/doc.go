// Package alipay is a client for the Alipay OpenAPI v2 gateway: key parsing,
// request signing, payment links, verified server calls, typed errors and
// exact money. It holds no MCP code; the local Alipay reuses its signing.
package alipay
