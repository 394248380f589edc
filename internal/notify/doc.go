// Package notify receives Alipay's asynchronous payment notifications
// (异步通知): an http.Handler that verifies each one as the protocol says,
// records it in the ledger before it answers "success", and lets the
// ledger tell everyone who waits for the order; it knows nothing of MCP.
package notify
