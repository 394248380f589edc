package tools

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// otherOrder is a correctly signed answer about order OTHER-1, whatever
// was asked: a misrouted or replayed answer.
const (
	otherPaid     = `"trade_no":"2026112522001400000000000777","out_trade_no":"OTHER-1","trade_status":"TRADE_SUCCESS","total_amount":"199.00"`
	otherRefunded = `"trade_no":"2026112522001400000000000009","out_trade_no":"ILL-9","out_request_no":"OTHER-R","refund_amount":"50.00","refund_status":"REFUND_SUCCESS"`
	mismatchSays  = "gateway answered about something else"
)

// TestAnswersAboutSomethingElse: every tool, the confirmation paths and the
// order resource refuse a signed answer about another order or another
// refund request: never success, never paid, never a confirmation.
func TestAnswersAboutSomethingElse(t *testing.T) {
	thisPaid := ok(`"trade_no":"2026112522001400000000000009","trade_status":"TRADE_SUCCESS","total_amount":"199.00"`)
	const refundArgs = `{"outTradeNo":"ILL-9","refundAmount":50,"outRequestNo":"ILL-9-R1"}`
	for _, tc := range []struct {
		name      string
		tool      string
		args      string
		reply     func(method string) answer
		wantCalls string
		want      []string
	}{
		{"query: another order paid", NameQueryPay, `{"outTradeNo":"ILL-9"}`,
			func(string) answer { return ok(otherPaid) }, queried, []string{mismatchSays, "OTHER-1", "NOT used"}},
		{"refund precheck: another order", NameRefundPay, refundArgs,
			func(string) answer { return ok(otherPaid) }, queried, []string{"refund API was not called", mismatchSays, "OTHER-1"}},
		{"refund: answer about another order", NameRefundPay, refundArgs,
			func(m string) answer {
				if m == queried {
					return thisPaid
				}
				return ok(`"trade_no":"2026112522001400000000000777","out_trade_no":"OTHER-1","fund_change":"Y","refund_fee":"50.00"`)
			}, refunded, []string{mismatchSays, "SAME outRequestNo"}},
		{"refund: another trade number of this order", NameRefundPay, refundArgs,
			func(m string) answer {
				if m == queried {
					return thisPaid
				}
				return ok(`"trade_no":"2026112522001400000000000777","out_trade_no":"ILL-9","fund_change":"Y","refund_fee":"50.00"`)
			}, refunded, []string{mismatchSays, "trade_no", "SAME outRequestNo"}},
		{"fund_change=N confirmed by another request's refund", NameRefundPay, refundArgs,
			func(m string) answer {
				switch m {
				case queried:
					return thisPaid
				case looked:
					return ok(otherRefunded)
				}
				return ok(`"trade_no":"2026112522001400000000000009","fund_change":"N","refund_fee":"50.00"`)
			}, refunded + "," + looked, []string{"outcome unknown", mismatchSays, "OTHER-R", "SAME outRequestNo"}},
		{"qr code: another order", NameQRPay, `{"outTradeNo":"ILL-9","totalAmount":199,"orderTitle":"插画"}`,
			func(string) answer { return ok(`"out_trade_no":"OTHER-1","qr_code":"https://qr.alipay.com/bax1"`) }, "alipay.trade.precreate",
			[]string{mismatchSays, "OTHER-1"}},
		{"close: another order", NameClosePay, `{"outTradeNo":"ILL-9"}`,
			func(string) answer { return ok(`"trade_no":"2026112522001400000000000777","out_trade_no":"OTHER-1"`) }, "alipay.trade.close",
			[]string{mismatchSays, "OTHER-1"}},
		{"wait: another order paid", NameWaitPay, `{"outTradeNo":"ILL-9","timeoutSeconds":1}`,
			func(string) answer { return ok(otherPaid) }, queried, []string{mismatchSays, "OTHER-1"}},
		{"refund query: another request", NameRefundQuery, `{"outTradeNo":"ILL-9","outRequestNo":"ILL-9-R1"}`,
			func(string) answer { return ok(otherRefunded) }, looked, []string{mismatchSays, "OTHER-R"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, g := newDeps(t, func(m string, _ map[string]any) answer { return tc.reply(m) })
			cs := connect(t, Options{Deps: d, Tools: everything})
			res := call(t, cs, tc.tool, tc.args)
			wantError(t, res, tc.want...)
			for _, bad := range []string{"Refund succeeded", "Paid;", "REFUND_SUCCESS)"} {
				if strings.Contains(text(res), bad) {
					t.Errorf("text claims %q:\n%s", bad, text(res))
				}
			}
			if got := strings.Join(g.methods(), ","); got != tc.wantCalls {
				t.Errorf("gateway calls %q, want %q", got, tc.wantCalls)
			}
		})
	}

	t.Run("already refunded? answered about another request", func(t *testing.T) {
		d, g := newDeps(t, func(m string, _ map[string]any) answer {
			if m == looked {
				return ok(otherRefunded)
			}
			return thisPaid
		})
		u := &asker{answer: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
		cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, legacy)
		res := call(t, cs, NameRefundPay, refundArgs)
		wantError(t, res, "refund API was not called", mismatchSays)
		if len(u.asked()) != 0 {
			t.Error("the user was asked after a mismatched answer")
		}
		if got := strings.Join(g.methods(), ","); got != queried+","+looked {
			t.Errorf("gateway calls %q", got)
		}
	})

	t.Run("resource: another order paid", func(t *testing.T) {
		d, _ := newDeps(t, func(string, map[string]any) answer { return ok(otherPaid) })
		cs := connect(t, Options{Deps: d})
		res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: TradeURI("ILL-9")})
		if err == nil {
			t.Fatalf("read succeeded: %+v", res.Contents[0])
		}
		if !strings.Contains(err.Error(), mismatchSays) {
			t.Errorf("read error: %v", err)
		}
	})
}
