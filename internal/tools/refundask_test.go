package tools

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

const (
	askArgs  = `{"outTradeNo":"ILL-9","refundAmount":50,"outRequestNo":"ILL-9-R1","refundReason":"部分退款"}`
	legacy   = "2025-11-25"
	newest   = "" // the SDK's newest, 2026-07-28
	moved    = `"trade_no":"2026112522001400000000000009","fund_change":"Y","refund_fee":"50.00"`
	queried  = "alipay.trade.query"
	refunded = "alipay.trade.query,alipay.trade.refund"
	// looked is the refund query made before asking: a refund already done
	// under the outRequestNo is reported, not asked about.
	looked = "alipay.trade.fastpay.refund.query"
	// notCalled opens every refusal of a confirmation.
	notCalled = "this call did not call the refund API"
)

// asker is a client-side user: it records every question and answers each
// with its answer.
type asker struct {
	mu        sync.Mutex
	questions []*mcp.ElicitParams
	answer    *mcp.ElicitResult
}

func (a *asker) handle(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.questions = append(a.questions, req.Params)
	return a.answer, nil
}

func (a *asker) asked() []*mcp.ElicitParams {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*mcp.ElicitParams(nil), a.questions...)
}

// The user's answer decides, in both protocol eras: only accept with
// confirm=true refunds.
func TestRefundAsksTheUser(t *testing.T) {
	answers := []struct {
		name      string
		answer    *mcp.ElicitResult
		wantCalls string
		want      []string // in the result text
	}{
		{"accept", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, refunded, []string{"Refund succeeded"}},
		{"accept unticked", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": false}}, queried, []string{"Refund NOT made", notCalled, "did not confirm", "Do not retry", "query-alipay-refund"}},
		{"decline", &mcp.ElicitResult{Action: "decline"}, queried, []string{"Refund NOT made", notCalled, "declined", "Do not retry", "ILL-9-R1", "query-alipay-refund"}},
		{"cancel", &mcp.ElicitResult{Action: "cancel"}, queried, []string{"Refund NOT made", notCalled, "dismissed", "Do not retry", "query-alipay-refund"}},
	}
	for _, proto := range []string{legacy, newest} {
		for _, tt := range answers {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				d, g := newDeps(t, paidTrade(ok(moved)))
				u := &asker{answer: tt.answer}
				cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, proto)
				res := call(t, cs, NameRefundPay, askArgs)
				if tt.wantCalls == refunded {
					wantOK(t, res)
				} else {
					wantError(t, res)
				}
				wantText(t, res, tt.want...)
				// The trade and the refund number are queried on the
				// asking call; on the newest protocol the trade again on
				// the answered one; the refund only after a yes.
				calls := strings.Join(g.methods(), ",")
				want := queried + "," + looked + "," + tt.wantCalls
				if proto == legacy {
					want = queried + "," + looked + strings.TrimPrefix(tt.wantCalls, queried)
				}
				if calls != want {
					t.Errorf("gateway calls %q, want %q", calls, want)
				}
				qs := u.asked()
				if len(qs) != 1 {
					t.Fatalf("%d questions, want 1", len(qs))
				}
				wantQuestion(t, qs[0])
			})
		}
	}
}

// wantQuestion checks the form: the facts in both languages and one
// required boolean.
func wantQuestion(t *testing.T, q *mcp.ElicitParams) {
	t.Helper()
	if q.Mode != "form" {
		t.Errorf("mode %q, want form", q.Mode)
	}
	for _, w := range []string{"确认退款 ¥50.00 给订单 ILL-9? / Refund ¥50.00 on order ILL-9?", "order amount: ¥199.00", "部分退款", "ILL-9-R1", "cannot be taken back"} {
		if !strings.Contains(q.Message, w) {
			t.Errorf("question lacks %q:\n%s", w, q.Message)
		}
	}
	b, err := json.Marshal(q.RequestedSchema)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Type       string
		Required   []string
		Properties map[string]struct{ Type, Title string }
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Type != "object" || len(s.Properties) != 1 || s.Properties["confirm"].Type != "boolean" ||
		s.Properties["confirm"].Title != "确认退款 / Confirm refund" || strings.Join(s.Required, ",") != "confirm" {
		t.Errorf("schema %s", b)
	}
}

// AP_REFUND_CONFIRM against clients with and without elicitation.
func TestRefundConfirmModes(t *testing.T) {
	yes := &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}
	tests := []struct {
		name      string
		mode      ConfirmMode
		canAsk    bool
		proto     string
		wantAsked int
		wantCalls string
		want      []string
	}{
		{"auto, client cannot ask: refunds as before", ConfirmAuto, false, newest, 0, refunded, []string{"Refund succeeded"}},
		{"auto, legacy client cannot ask", ConfirmAuto, false, legacy, 0, refunded, []string{"Refund succeeded"}},
		{"always, client cannot ask: refused", ConfirmAlways, false, newest, 0, queried, []string{"refund API was not called", "AP_REFUND_CONFIRM=always", "cannot ask"}},
		{"always, legacy client cannot ask", ConfirmAlways, false, legacy, 0, queried, []string{"AP_REFUND_CONFIRM=always"}},
		{"always, client asks", ConfirmAlways, true, newest, 1, queried + "," + looked + "," + refunded, []string{"Refund succeeded"}},
		{"always, legacy client asks", ConfirmAlways, true, legacy, 1, queried + "," + looked + ",alipay.trade.refund", []string{"Refund succeeded"}},
		{"never, client could ask: not asked", ConfirmNever, true, newest, 0, refunded, []string{"Refund succeeded"}},
		{"never, legacy client could ask", ConfirmNever, true, legacy, 0, refunded, []string{"Refund succeeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, g := newDeps(t, paidTrade(ok(moved)))
			d.Confirm = tt.mode
			u := &asker{answer: yes}
			opts := &mcp.ClientOptions{}
			if tt.canAsk {
				opts.ElicitationHandler = u.handle
			}
			res := call(t, connectClient(t, Options{Deps: d}, opts, tt.proto), NameRefundPay, askArgs)
			if strings.HasSuffix(tt.wantCalls, "refund") {
				wantOK(t, res)
			} else {
				wantError(t, res)
			}
			wantText(t, res, tt.want...)
			if got := len(u.asked()); got != tt.wantAsked {
				t.Errorf("asked %d times, want %d", got, tt.wantAsked)
			}
			if got := strings.Join(g.methods(), ","); got != tt.wantCalls {
				t.Errorf("gateway calls %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

// A refund the pre-checks refuse is refused before the user is bothered.
func TestRefundAsksOnlyPossibleRefunds(t *testing.T) {
	tests := []struct {
		name, args string
		max        alipay.Amount
		reply      func(string, map[string]any) answer
		wantCalls  string
		want       string
	}{
		{"above the cap", askArgs, 4999, paidTrade(ok(moved)), "", "AP_REFUND_MAX_AMOUNT"},
		{"more than the order", `{"outTradeNo":"ILL-9","refundAmount":199.01,"outRequestNo":"R2"}`, 0, paidTrade(ok(moved)), queried, "refund API was not called"},
		{"no such trade", askArgs, 0, func(string, map[string]any) answer {
			return fail("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST", "交易不存在")
		}, queried, "ACQ.TRADE_NOT_EXIST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, g := newDeps(t, tt.reply)
			d.RefundMax = tt.max
			u := &asker{answer: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
			cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{ElicitationHandler: u.handle}, newest)
			wantError(t, call(t, cs, NameRefundPay, tt.args), tt.want)
			if n := len(u.asked()); n != 0 {
				t.Errorf("asked %d times about a refund that is refused anyway", n)
			}
			if got := strings.Join(g.methods(), ","); got != tt.wantCalls {
				t.Errorf("gateway calls %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

// The two rounds by hand, as a 2026-07-28 client that runs its own retry
// loop: the state binds the refund, and only a genuine yes to this very
// refund moves money.
func TestRefundConfirmationRounds(t *testing.T) {
	yes := mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	first := func(t *testing.T, cs *mcp.ClientSession) string {
		t.Helper()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: NameRefundPay, Arguments: json.RawMessage(askArgs)})
		if err != nil {
			t.Fatal(err)
		}
		if !res.NeedsInput() || res.RequestState == "" || len(res.Content) != 0 || res.StructuredContent != nil || res.IsError {
			t.Fatalf("first round: needsInput=%t state=%q content=%v isError=%t", res.NeedsInput(), res.RequestState, res.Content, res.IsError)
		}
		q, ok := res.InputRequests[confirmInput].(*mcp.ElicitParams)
		if !ok || len(res.InputRequests) != 1 {
			t.Fatalf("input requests %v", res.InputRequests)
		}
		wantQuestion(t, q)
		return res.RequestState
	}
	expired := func(string) string {
		s := &stateSealer{key: refundStates.key, now: func() time.Time { return time.Now().Add(-confirmTTL - time.Second) }}
		return s.seal(confirmClaims{OutTradeNo: "ILL-9", OutRequestNo: "ILL-9-R1", Fen: 5000, Reason: "部分退款"})
	}
	tests := []struct {
		name      string
		args      string
		state     func(issued string) string
		responses mcp.InputResponseMap
		want      []string // empty: the refund is made
	}{
		{"yes", askArgs, func(s string) string { return s }, yes, nil},
		{"yes without state", askArgs, func(string) string { return "" }, yes, []string{"Refund NOT made", "invalid"}},
		{"forged state", askArgs, func(s string) string { return s[:len(s)-2] + "AA" }, yes, []string{"invalid"}},
		{"state from another process", askArgs, func(string) string {
			return newStateSealer().seal(confirmClaims{OutTradeNo: "ILL-9", OutRequestNo: "ILL-9-R1", Fen: 5000, Reason: "部分退款"})
		}, yes, []string{"invalid"}},
		{"expired", askArgs, expired, yes, []string{"expired"}},
		{"amount changed", `{"outTradeNo":"ILL-9","refundAmount":150,"outRequestNo":"ILL-9-R1","refundReason":"部分退款"}`,
			func(s string) string { return s }, yes, []string{"arguments differ"}},
		{"order changed", `{"outTradeNo":"ILL-8","refundAmount":50,"outRequestNo":"ILL-9-R1","refundReason":"部分退款"}`,
			func(s string) string { return s }, yes, []string{"arguments differ"}},
		{"no answer", askArgs, func(s string) string { return s }, nil, []string{"No answer from the user"}},
		{"answer under another key", askArgs, func(s string) string { return s },
			mcp.InputResponseMap{"other": yes[confirmInput]}, []string{"No answer from the user"}},
		{"accept without the field", askArgs, func(s string) string { return s },
			mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}}, []string{"did not confirm"}},
		{"confirm as a string", askArgs, func(s string) string { return s },
			mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": "true"}}}, []string{"did not confirm"}},
		{"decline", askArgs, func(s string) string { return s },
			mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "decline"}}, []string{"declined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, g := newDeps(t, paidTrade(ok(moved)))
			u := &asker{}
			cs := connectClient(t, Options{Deps: d}, &mcp.ClientOptions{
				ElicitationHandler: u.handle, // declares the capability; never called
				MultiRoundTrip:     &mcp.MultiRoundTripOptions{Disabled: true},
			}, newest)
			issued := first(t, cs)
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{
				Name: NameRefundPay, Arguments: json.RawMessage(tt.args),
				InputResponses: tt.responses, RequestState: tt.state(issued),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.NeedsInput() {
				t.Fatalf("a retry was asked again: %v", res.InputRequests)
			}
			calls := strings.Join(g.methods(), ",")
			if tt.want == nil {
				wantOK(t, res)
				if calls != queried+","+looked+","+refunded {
					t.Errorf("gateway calls %q", calls)
				}
				return
			}
			wantError(t, res, append([]string{notCalled, "query-alipay-refund"}, tt.want...)...)
			if strings.Contains(calls, "alipay.trade.refund") {
				t.Errorf("refunded anyway: gateway calls %q", calls)
			}
			if n := len(u.asked()); n != 0 {
				t.Errorf("the client's handler was called %d times with the middleware off", n)
			}
		})
	}
}

func TestStateSealer(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s := &stateSealer{key: []byte("0123456789abcdef0123456789abcdef"), now: func() time.Time { return now }}
	c := claimsOf(alipay.RefundRequest{OutTradeNo: "A1", RefundAmount: 5000, OutRequestNo: "R1", RefundReason: "坏了"})
	state := s.seal(c)
	if !strings.HasPrefix(state, "v1.") || strings.Count(state, ".") != 2 {
		t.Fatalf("state %q", state)
	}
	other := *s
	other.key = []byte("another key, same length, 32 by!")
	tests := []struct {
		name  string
		s     *stateSealer
		state string
		want  confirmClaims
		at    time.Duration // after sealing
		err   error
	}{
		{"valid", s, state, c, 0, nil},
		{"just before expiry", s, state, c, confirmTTL - time.Second, nil},
		{"at expiry", s, state, c, confirmTTL, errStateExpired},
		{"other key", &other, state, c, 0, errStateInvalid},
		{"other amount", s, state, claimsOf(alipay.RefundRequest{OutTradeNo: "A1", RefundAmount: 5001, OutRequestNo: "R1", RefundReason: "坏了"}), 0, errStateMismatch},
		{"other request number", s, state, claimsOf(alipay.RefundRequest{OutTradeNo: "A1", RefundAmount: 5000, OutRequestNo: "R2", RefundReason: "坏了"}), 0, errStateMismatch},
		{"other reason", s, state, claimsOf(alipay.RefundRequest{OutTradeNo: "A1", RefundAmount: 5000, OutRequestNo: "R1"}), 0, errStateMismatch},
		{"payload swapped", s, "v1." + strings.Split(s.seal(claimsOf(alipay.RefundRequest{OutTradeNo: "A1", RefundAmount: 1, OutRequestNo: "R1"})), ".")[1] + "." + strings.Split(state, ".")[2], c, 0, errStateInvalid},
		{"empty", s, "", c, 0, errStateInvalid},
		{"other version", s, "v2" + state[2:], c, 0, errStateInvalid},
		{"not base64", s, "v1.!!.!!", c, 0, errStateInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := *tt.s
			at.now = func() time.Time { return now.Add(tt.at) }
			if _, err := at.open(tt.state, tt.want); !errors.Is(err, tt.err) {
				t.Errorf("open: %v, want %v", err, tt.err)
			}
		})
	}
	if a, b := newStateSealer(), newStateSealer(); string(a.key) == string(b.key) || len(a.key) != 32 {
		t.Error("per-process keys are not random 32-byte keys")
	}
}

func TestCanAskForm(t *testing.T) {
	tests := []struct {
		name string
		caps *mcp.ClientCapabilities
		want bool
	}{
		{"nil", nil, false},
		{"no elicitation", &mcp.ClientCapabilities{}, false},
		{"elicitation without modes means form", &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{}}, true},
		{"form", &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}}}, true},
		{"url only", &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{URL: &mcp.URLElicitationCapabilities{}}}, false},
		{"both", &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canAskForm(tt.caps); got != tt.want {
				t.Errorf("canAskForm = %t, want %t", got, tt.want)
			}
		})
	}
}
