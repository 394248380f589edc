// Package localalipay is a local, stateful Alipay (本地模拟支付宝) that speaks
// the real OpenAPI v2 protocol (gateway, cashier pages, notifications and a
// control API, with its state in SQLite) and never moves real money.
package localalipay
