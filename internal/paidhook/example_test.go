package paidhook_test

import (
	"fmt"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paidhook"
)

// A receiver checks the X-Alipay-MCP-Signature header over the raw body
// before acting on the event, and refuses it when it is stale (replayed).
func ExampleVerify() {
	secret := "a-secret-of-at-least-16-chars"
	body := []byte(`{"id":"evt_1","type":"order.paid","out_trade_no":"T1","amount":"12.34","currency":"CNY","env":"prod"}`)
	sent := time.Unix(1_795_000_000, 0)
	header := paidhook.Sign(secret, sent, body) // what the sender puts in the header

	fmt.Println(paidhook.Verify(secret, header, body, sent.Add(time.Minute), paidhook.DefaultTolerance))
	fmt.Println(paidhook.Verify(secret, header, body, sent.Add(time.Hour), paidhook.DefaultTolerance) == paidhook.ErrStale)
	fmt.Println(paidhook.Verify("another-secret-0123456", header, body, sent, 0) == paidhook.ErrBadSignature)
	// Output:
	// <nil>
	// true
	// true
}
