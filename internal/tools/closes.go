package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// orderClose is what this server knows of an order's close and expiry.
type orderClose struct {
	closedAt     time.Time // when the merchant closed it through this server; zero: never
	payableUntil time.Time // its links' latest expiry; zero: unknown
}

// closeOf asks the ledger (shared by every process and kept across
// restarts), then this process's watcher and expiry book, when the order
// was closed and until when its links can be paid.
func (d Deps) closeOf(ctx context.Context, no string) orderClose {
	var c orderClose
	if d.Ledger != nil {
		if o, err := d.Ledger.Order(ctx, no); err == nil {
			c.closedAt, c.payableUntil = o.ClosedAt, o.PayableUntil
		}
	}
	if c.closedAt.IsZero() && d.Watcher != nil {
		if at, ok := d.Watcher.ClosedAt(no); ok {
			c.closedAt = at
		}
	}
	if c.payableUntil.IsZero() {
		if u, ok := d.expiries.expiry(no); ok {
			c.payableUntil = u
		}
	}
	return c
}

// closedOrderText refuses a new link or QR code for an order the merchant
// closed: the buyer could pay it, and the watch would close the new trade.
func closedOrderText(no string, at time.Time) string {
	t := alipay.FormatTimestamp(at)
	return fmt.Sprintf("未创建支付 / No payment was created: 该订单 (%s) 已于 %s (北京时间) 关闭, 请使用新的 outTradeNo。"+
		"You closed this order (%s) at %s (Beijing time); use a new outTradeNo.", no, t, no, t)
}
