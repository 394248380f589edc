// Package alipay is a client for the Alipay OpenAPI v2 gateway (key parsing,
// request signing, payment links, verified server calls, typed errors and
// exact money) with no MCP code, whose signing the local Alipay reuses.
package alipay
