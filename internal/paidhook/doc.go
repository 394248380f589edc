// Package paidhook tells the merchant when a buyer pays: it drains the
// ledger's outbox of order.paid events and POSTs each one, signed, to
// AP_PAID_WEBHOOK (a plain HTTPS endpoint, or a DingTalk, WeCom or Feishu
// group bot in that bot's own text format), with retries and backoff, at
// least once, under a stable event id.
package paidhook
