// Package httpserve is the HTTP front door of the MCP server: Streamable HTTP
// at /mcp for clients of every protocol revision, bearer-token and OAuth
// authentication with per-token scopes, Host/Origin checks, rate limits,
// health, readiness and Prometheus metrics, and a graceful shutdown. It
// knows nothing of Alipay: it serves whatever *mcp.Server it is given, and
// any extra routes (the payment notification receiver) its caller mounts.
package httpserve
