package tools

import (
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// refundGateway answers queries for a paid ¥199.00 trade, refunds with the
// answers in refunds (one per attempt, the last repeated) and refund
// queries with rq.
func refundGateway(rq answer, refunds ...answer) func(string, map[string]any) answer {
	var mu sync.Mutex
	n := 0
	return func(method string, _ map[string]any) answer {
		switch method {
		case "alipay.trade.query":
			return ok(`"trade_no":"2026112522001400000000000009","trade_status":"TRADE_SUCCESS","total_amount":"199.00"`)
		case "alipay.trade.fastpay.refund.query":
			return rq
		}
		mu.Lock()
		defer mu.Unlock()
		a := refunds[min(n, len(refunds)-1)]
		n++
		return a
	}
}

// A refund answered with fund_change other than Y is confirmed with the
// refund query before anything is claimed: the money may have moved in an
// attempt whose answer was lost.
func TestRefundConfirmedByQuery(t *testing.T) {
	const args = `{"outTradeNo":"ILL-9","refundAmount":50,"outRequestNo":"ILL-9-R1"}`
	repeat := ok(`"trade_no":"2026112522001400000000000009","fund_change":"N","refund_fee":"50.00"`)
	done := ok(`"trade_no":"2026112522001400000000000009","out_trade_no":"ILL-9","out_request_no":"ILL-9-R1","refund_amount":"50.00","refund_status":"REFUND_SUCCESS","gmt_refund_pay":"2026-11-25 10:05:00"`)
	lost := fail("20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙")
	tests := []struct {
		name      string
		attempts  int
		reply     func(string, map[string]any) answer
		wantCalls string
		check     func(t *testing.T, res *mcp.CallToolResult)
	}{
		{"first answer lost, retry says N", 3, refundGateway(done, lost, repeat),
			"alipay.trade.query,alipay.trade.refund,alipay.trade.refund,alipay.trade.fastpay.refund.query", wantConfirmed},
		{"repeat of a done refund", 1, refundGateway(done, repeat),
			"alipay.trade.query,alipay.trade.refund,alipay.trade.fastpay.refund.query", wantConfirmed},
		{"fund_change missing", 1, refundGateway(done, ok(`"trade_no":"2026112522001400000000000009","refund_fee":"50.00"`)),
			"alipay.trade.query,alipay.trade.refund,alipay.trade.fastpay.refund.query", wantConfirmed},
		{"number used for another amount", 1,
			refundGateway(ok(`"trade_no":"2026112522001400000000000009","refund_amount":"60.00","refund_status":"REFUND_SUCCESS"`), repeat),
			"alipay.trade.query,alipay.trade.refund,alipay.trade.fastpay.refund.query", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "Refund NOT made", "¥60.00", "¥50.00", "new outRequestNo")
			}},
		{"no refund found", 1, refundGateway(ok(`"trade_no":"2026112522001400000000000009"`), repeat),
			"alipay.trade.query,alipay.trade.refund,alipay.trade.fastpay.refund.query", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "outcome unknown, not confirmed", "fund_change=N", "SAME outRequestNo", "query-alipay-refund")
			}},
		{"refund processing", 1, refundGateway(ok(`"trade_no":"2026112522001400000000000009","refund_amount":"50.00","refund_status":"REFUND_PROCESSING"`), repeat),
			"alipay.trade.query,alipay.trade.refund,alipay.trade.fastpay.refund.query", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "not confirmed", "REFUND_PROCESSING", "SAME outRequestNo")
			}},
		{"confirming query fails", 1, refundGateway(fail("40004", "Business Failed", "ACQ.SYSTEM_ERROR", "系统错误"), repeat),
			"alipay.trade.query,alipay.trade.refund,alipay.trade.fastpay.refund.query", func(t *testing.T, res *mcp.CallToolResult) {
				wantError(t, res, "outcome unknown", "confirming refund query failed", "ACQ.SYSTEM_ERROR", "SAME outRequestNo")
			}},
		{"money moved now: no query", 1, refundGateway(done, ok(`"trade_no":"2026112522001400000000000009","fund_change":"Y","refund_fee":"50.00"`)),
			"alipay.trade.query,alipay.trade.refund", func(t *testing.T, res *mcp.CallToolResult) {
				wantOK(t, res)
				if !strings.Contains(text(res), "returned to the buyer") {
					t.Errorf("text %s", text(res))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, g := newDepsAttempts(t, tt.attempts, tt.reply)
			res := call(t, connect(t, Options{Deps: d}), NameRefundPay, args)
			tt.check(t, res)
			if got := strings.Join(g.methods(), ","); got != tt.wantCalls {
				t.Errorf("gateway calls %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

func wantConfirmed(t *testing.T, res *mcp.CallToolResult) {
	t.Helper()
	wantOK(t, res)
	if got := structured(t, res); got != `{"refundResult":"`+RefundResultSuccess+`","tradeNo":"2026112522001400000000000009"}` {
		t.Errorf("structured %s", got)
	}
	wantText(t, res, "Refund succeeded", "ILL-9-R1", "REFUND_SUCCESS", "never twice", "refunded on this order so far: ¥50.00", "2026-11-25 10:05:00")
}
