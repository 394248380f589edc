package tools

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	refundDone50 = `"trade_no":"2026112522001400000000000009","out_trade_no":"ILL-9","out_request_no":"ILL-9-R1","refund_amount":"50.00","refund_status":"REFUND_SUCCESS","gmt_refund_pay":"2026-11-25 10:05:00"`
	refundDone60 = `"trade_no":"2026112522001400000000000009","refund_amount":"60.00","refund_status":"REFUND_SUCCESS"`
	tradePaid    = `"trade_no":"2026112522001400000000000009","trade_status":"TRADE_SUCCESS","total_amount":"199.00","subject":"定制插画"`
)

// statefulGateway is a paid ¥199.00 trade whose refund query shows the
// refund only once alipay.trade.refund has been called; before that it
// answers with before.
func statefulGateway(before answer) func(string, map[string]any) answer {
	var done atomic.Bool
	return func(method string, _ map[string]any) answer {
		switch method {
		case "alipay.trade.query":
			return ok(tradePaid)
		case "alipay.trade.fastpay.refund.query":
			if done.Load() {
				return ok(refundDone50)
			}
			return before
		}
		fund := "Y"
		if done.Swap(true) {
			fund = "N"
		}
		return ok(`"trade_no":"2026112522001400000000000009","fund_change":"` + fund + `","refund_fee":"50.00"`)
	}
}

// Before asking, the refund number is looked up: a refund an earlier call
// made (its answer lost) is reported as done, and nobody is asked whose
// "no" would come too late.
func TestRefundAskSeesEarlierRefund(t *testing.T) {
	decline := &mcp.ElicitResult{Action: "decline"}
	tests := []struct {
		name      string
		rq        answer // the refund query's answer
		wantAsked int
		want      []string
		wantOK    bool
	}{
		{"done, same amount", ok(refundDone50), 0, []string{"Refund succeeded", "REFUND_SUCCESS", "earlier call", "never twice", "2026-11-25 10:05:00"}, true},
		{"done, another amount", ok(refundDone60), 0, []string{"Refund NOT made", "¥60.00", "new outRequestNo"}, false},
		{"not found", ok(`"trade_no":"2026112522001400000000000009"`), 1, []string{"declined", notCalled, "query-alipay-refund"}, false},
		{"processing", ok(`"refund_amount":"50.00","refund_status":"REFUND_PROCESSING"`), 1, []string{"declined"}, false},
		{"query fails", fail("40004", "Business Failed", "ACQ.SYSTEM_ERROR", "系统错误"), 1, []string{"declined"}, false},
	}
	for _, proto := range []string{legacy, newest} {
		for _, tt := range tests {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				d, g := newDeps(t, refundGateway(tt.rq, ok(moved)))
				u := &asker{answer: decline}
				res := call(t, connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, proto), NameRefundPay, askArgs)
				if tt.wantOK {
					wantOK(t, res)
					if got := structured(t, res); got != `{"refundResult":"`+RefundResultSuccess+`","tradeNo":"2026112522001400000000000009"}` {
						t.Errorf("structured %s", got)
					}
				} else {
					wantError(t, res)
				}
				wantText(t, res, tt.want...)
				if n := len(u.asked()); n != tt.wantAsked {
					t.Errorf("asked %d times, want %d", n, tt.wantAsked)
				}
				if calls := strings.Join(g.methods(), ","); strings.Contains(calls, "alipay.trade.refund") {
					t.Errorf("refund API called: %s", calls)
				}
			})
		}
	}
}

// On a legacy session the handler asks itself, so every way an answer can
// fail is a tool error with a bilingual text, never a JSON-RPC error from
// the SDK's bridge, and nothing is refunded.
func TestRefundLegacyAnswerProblems(t *testing.T) {
	tests := []struct {
		name   string
		answer *mcp.ElicitResult
		err    error
		want   []string
	}{
		{"confirm as a string", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": "true"}}, nil,
			[]string{"无法向用户确认", "could not be confirmed", "does not match requested schema"}},
		{"confirm missing", &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil,
			[]string{"could not be confirmed"}},
		{"accept without content", &mcp.ElicitResult{Action: "accept"}, nil, []string{"did not confirm"}},
		{"handler error", nil, errors.New("user interface unavailable"), []string{"could not be confirmed", "user interface unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, g := newDeps(t, paidTrade(ok(moved)))
			h := func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) { return tt.answer, tt.err }
			cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: h}, legacy)
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: NameRefundPay, Arguments: json.RawMessage(askArgs)})
			if err != nil {
				t.Fatalf("protocol error instead of a tool error: %v", err)
			}
			wantError(t, res, append([]string{"Refund NOT made", notCalled, "query-alipay-refund"}, tt.want...)...)
			if calls := strings.Join(g.methods(), ","); strings.Contains(calls, "alipay.trade.refund") {
				t.Errorf("refund API called: %s", calls)
			}
		})
	}
}

// A legacy client judged by what it declared at initialize, not by a
// request's _meta: one without elicitation refunds as before under auto,
// and is refused with a tool error under always.
func TestRefundLegacyMetaClaim(t *testing.T) {
	for _, tt := range []struct {
		mode     ConfirmMode
		refunded bool
	}{{ConfirmAuto, true}, {ConfirmAlways, false}} {
		t.Run(map[bool]string{true: "auto", false: "always"}[tt.refunded], func(t *testing.T) {
			d, g := newDeps(t, paidTrade(ok(moved)))
			d.Confirm = tt.mode
			cs := connectClient(t, Options{Deps: d}, nil, legacy)
			p := &mcp.CallToolParams{Name: NameRefundPay, Arguments: json.RawMessage(askArgs)}
			p.SetMeta(map[string]any{mcp.MetaKeyClientCapabilities: map[string]any{"elicitation": map[string]any{}}})
			res, err := cs.CallTool(context.Background(), p)
			if err != nil {
				t.Fatalf("protocol error: %v", err)
			}
			calls := strings.Join(g.methods(), ",")
			if tt.refunded {
				wantOK(t, res)
				if calls != refunded {
					t.Errorf("gateway calls %q, want %q", calls, refunded)
				}
			} else {
				wantError(t, res, "AP_REFUND_CONFIRM=always")
				if calls != queried {
					t.Errorf("gateway calls %q, want %q", calls, queried)
				}
			}
		})
	}
}

// A request state is good for one answer. A "no" replayed as a "yes" is
// refused; concurrent retries of one "yes" refund once, and each of the
// others reports the refund or says the confirmation was already answered,
// without asking again.
func TestRefundStateSingleUse(t *testing.T) {
	yes := mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	no := mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "decline"}}
	manual := func(t *testing.T, d Deps) *mcp.ClientSession {
		t.Helper()
		return connectClient(t, Options{Deps: d}, &mcp.ClientOptions{
			ElicitationHandler: (&asker{}).handle,
			MultiRoundTrip:     &mcp.MultiRoundTripOptions{Disabled: true},
		}, newest)
	}
	round := func(t *testing.T, cs *mcp.ClientSession, state string, r mcp.InputResponseMap) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: NameRefundPay, Arguments: json.RawMessage(askArgs), RequestState: state, InputResponses: r})
		if err != nil {
			t.Error(err)
			return nil
		}
		if res.NeedsInput() != (state == "") {
			t.Errorf("needsInput=%t on a call with state %q", res.NeedsInput(), state)
		}
		return res
	}
	refunds := func(g *gateway) int {
		n := 0
		for _, m := range g.methods() {
			if m == "alipay.trade.refund" {
				n++
			}
		}
		return n
	}

	t.Run("no, then the same state with yes", func(t *testing.T) {
		d, g := newDeps(t, statefulGateway(ok("")))
		cs := manual(t, d)
		state := round(t, cs, "", nil).RequestState
		wantError(t, round(t, cs, state, no), "declined")
		wantError(t, round(t, cs, state, yes), "already answered", notCalled, "same arguments", "query-alipay-refund")
		if n := refunds(g); n != 0 {
			t.Errorf("%d refund calls, want 0", n)
		}
	})
	t.Run("bad answer, then yes", func(t *testing.T) {
		d, g := newDeps(t, statefulGateway(ok("")))
		cs := manual(t, d)
		state := round(t, cs, "", nil).RequestState
		wantError(t, round(t, cs, state, nil), "No answer")
		wantError(t, round(t, cs, state, yes), "already answered")
		if n := refunds(g); n != 0 {
			t.Errorf("%d refund calls, want 0", n)
		}
	})
	t.Run("eight concurrent yes", func(t *testing.T) {
		d, g := newDeps(t, statefulGateway(ok("")))
		cs := manual(t, d)
		state := round(t, cs, "", nil).RequestState
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[string]int{}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := round(t, cs, state, yes)
				if res == nil {
					return
				}
				k := "refunded"
				switch {
				case res.IsError && strings.Contains(text(res), "already answered"):
					k = "already answered"
				case res.IsError:
					k = "other: " + text(res)
				}
				mu.Lock()
				got[k]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if got["refunded"] < 1 || got["refunded"]+got["already answered"] != 8 {
			t.Errorf("outcomes %v", got)
		}
		if n := refunds(g); n != 1 {
			t.Errorf("%d refund calls, want 1", n)
		}
		// Later, the replay finds the refund done and says so.
		res := round(t, cs, state, yes)
		wantOK(t, res)
		if !strings.Contains(text(res), "never twice") {
			t.Errorf("late replay:\n%s", text(res))
		}
		if n := refunds(g); n != 1 {
			t.Errorf("%d refund calls after the replay, want 1", n)
		}
	})
}

func TestAnsweredSet(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a := &answeredSet{max: 2, now: func() time.Time { return now }, until: map[string]time.Time{}}
	steps := []struct {
		nonce   string
		exp     time.Duration
		advance time.Duration // before the step
		fresh   bool
		err     error
	}{
		{"a", time.Minute, 0, true, nil},
		{"a", time.Minute, 0, false, nil},
		{"b", 2 * time.Minute, 0, true, nil},
		{"c", 2 * time.Minute, 0, false, errTooManyAnswers}, // full: fail closed
		{"b", 2 * time.Minute, 0, false, nil},
		{"c", 3 * time.Minute, time.Minute, true, nil}, // a expired and is pruned
		{"b", 2 * time.Minute, 0, false, nil},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		fresh, err := a.consume(s.nonce, now.Add(s.exp))
		if fresh != s.fresh || !errors.Is(err, s.err) {
			t.Errorf("step %d (%s): fresh=%t err=%v, want %t %v", i, s.nonce, fresh, err, s.fresh, s.err)
		}
	}
}

// Every sealed state carries its own nonce, and opening returns it.
func TestSealNonce(t *testing.T) {
	c := confirmClaims{OutTradeNo: "A1", OutRequestNo: "R1", Fen: 5000}
	s1, s2 := refundStates.seal(c), refundStates.seal(c)
	g1, err1 := refundStates.open(s1, c)
	g2, err2 := refundStates.open(s2, c)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if g1.Nonce == "" || g1.Nonce == g2.Nonce {
		t.Errorf("nonces %q and %q", g1.Nonce, g2.Nonce)
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "定制插画 Custom illustration", 80, "定制插画 Custom illustration"},
		{"line breaks", "插画\n- 退款金额 / refund amount: ¥0.01\r\n结束", 80, "插画 - 退款金额 / refund amount: ¥0.01 结束"},
		{"unicode separators and tabs", "a\u2028b\u2029c\td\u0085e", 80, "a b c d e"},
		{"bidi and zero-width", "abc\u202edcba\u200b\u2066x", 80, "abc dcba x"},
		{"spaces collapse and trim", "  a   b  ", 80, "a b"},
		{"capped", "一二三四五六", 4, "一二三四…"},
		{"capped at a space", "ab cd", 3, "ab…"},
		{"exactly max", "abcd", 4, "abcd"},
		{"invalid UTF-8", "a\xffb", 80, "a b"},
		{"only controls", "\n\r\t", 80, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := oneLine(tt.in, tt.max); got != tt.want {
				t.Errorf("oneLine(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// The order subject Alipay returns, and the model's reason, cannot add
// lines to the question.
func TestQuestionOneLinePerFact(t *testing.T) {
	subject := `插画\n- 退款金额 / refund amount: ¥0.01\n- 订单金额 / order amount: ¥0.01\u2028` + strings.Repeat("长", 300)
	d, _ := newDeps(t, func(method string, _ map[string]any) answer {
		if method == "alipay.trade.query" {
			return ok(`"trade_no":"2026112522001400000000000009","trade_status":"TRADE_SUCCESS","total_amount":"199.00","subject":"` + subject + `"`)
		}
		return ok("")
	})
	u := &asker{answer: &mcp.ElicitResult{Action: "decline"}}
	cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, newest)
	args := `{"outTradeNo":"ILL-9","refundAmount":50,"outRequestNo":"ILL-9-R1","refundReason":"客户要求\u2028- 退款金额 / refund amount: ¥0.01\u202e"}`
	wantError(t, call(t, cs, NameRefundPay, args), "declined")
	qs := u.asked()
	if len(qs) != 1 {
		t.Fatalf("%d questions", len(qs))
	}
	lines := strings.Split(qs[0].Message, "\n")
	var amounts, items int
	for _, l := range lines {
		if strings.HasPrefix(l, "- 退款金额") || strings.HasPrefix(l, "- 订单金额") {
			amounts++
		}
		if strings.HasPrefix(l, "- 商品 / item: ") {
			items++
			if n := len([]rune(strings.TrimPrefix(l, "- 商品 / item: "))); n > maxSubjectRunes+1 {
				t.Errorf("subject line has %d characters", n)
			}
		}
	}
	if amounts != 2 || items != 1 || len(lines) != 9 {
		t.Errorf("%d lines, %d amount lines (want 2), %d item lines (want 1):\n%s", len(lines), amounts, items, qs[0].Message)
	}
}
