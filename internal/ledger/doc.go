// Package ledger remembers every order, refund, notification and state-changing
// call of the server in SQLite (the default) or PostgreSQL (shared by several
// processes), and publishes "paid", "closed" and "refunded" events; it knows
// nothing of MCP or HTTP.
package ledger
