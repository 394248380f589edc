package main

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// user answers the server's questions as a person at the client would, and
// remembers each question.
type user struct {
	mu        sync.Mutex
	answer    *mcp.ElicitResult
	questions []string
}

func (u *user) handle(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.questions = append(u.questions, req.Params.Message)
	return u.answer, nil
}

func (u *user) set(a *mcp.ElicitResult) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.answer, u.questions = a, nil
}

func (u *user) asked() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.questions...)
}

// connectAsking opens a session on protocol version (empty = the SDK's
// newest) whose client declares elicitation when u is not nil.
func (e *env) connectAsking(t *testing.T, version string, u *user) *session {
	t.Helper()
	opts := &mcp.ClientOptions{}
	if u != nil {
		opts.ElicitationHandler = u.handle
	}
	sess := e.connectOpts(t, "e2e-confirm", opts, &mcp.ClientSessionOptions{ProtocolVersion: version})
	want := version
	if want == "" {
		want = "2026-07-28"
	}
	if got := sess.InitializeResult().ProtocolVersion; got != want {
		t.Fatalf("negotiated %s, want %s", got, want)
	}
	return sess
}

// paidOrder makes a ¥199.00 order and pays it at the local Alipay.
func (s *session) paidOrder(t *testing.T, prefix string) string {
	t.Helper()
	no := orderNo(prefix)
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":199.00,"orderTitle":"定制插画 Custom illustration"}`)
	mustOK(t, res)
	if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
		t.Fatalf("PayLink: %v", err)
	}
	return no
}

// refundDone reports whether the local Alipay has the refund, asking it
// through query-alipay-refund.
func (s *session) refundDone(t *testing.T, no, reqNo string) bool {
	t.Helper()
	res := s.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no+`","outRequestNo":"`+reqNo+`"}`)
	if res.IsError {
		if !strings.Contains(resText(res), "No refund found") {
			t.Fatalf("refund query: %s", resText(res))
		}
		return false
	}
	return structuredField(res, "refundStatus") == "REFUND_SUCCESS" && structuredField(res, "refundAmount") == "50.00"
}

func refundArgs(no string) string {
	return `{"outTradeNo":"` + no + `","refundAmount":50.00,"outRequestNo":"` + no + `-R1","refundReason":"画错了颜色 wrong colours"}`
}

// The binary asks before refunding, on the legacy protocol (elicitation/create
// sent by the SDK's bridge) and on the newest (inputRequests in the result,
// answered in a retried call); only a yes refunds.
func TestRefundConfirmation(t *testing.T) {
	answers := []struct {
		name   string
		answer *mcp.ElicitResult
		want   []string // in an error; nil = refunded
	}{
		{"accept", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil},
		{"accept unticked", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": false}}, []string{"did not confirm"}},
		{"decline", &mcp.ElicitResult{Action: "decline"}, []string{"declined"}},
		{"cancel", &mcp.ElicitResult{Action: "cancel"}, []string{"dismissed"}},
	}
	for _, v := range []struct{ name, version, onWire string }{
		{"legacy", "2025-11-25", `"method":"elicitation/create"`},
		{"newest", "", `"inputResponses"`},
	} {
		t.Run(v.name, func(t *testing.T) {
			u := &user{}
			s := newEnv(t, nil).connectAsking(t, v.version, u)
			for _, a := range answers {
				t.Run(a.name, func(t *testing.T) {
					u.set(a.answer)
					no := s.paidOrder(t, "ASK")
					res := s.call(t, tools.NameRefundPay, refundArgs(no))
					if a.want == nil {
						mustOK(t, res)
					} else {
						mustToolError(t, res, append([]string{"Refund NOT made", "this call did not call the refund API", "Do not retry", "query-alipay-refund"}, a.want...)...)
					}
					if done := s.refundDone(t, no, no+"-R1"); done != (a.want == nil) {
						t.Errorf("refund at the local Alipay: %t, want %t", done, a.want == nil)
					}
					qs := u.asked()
					if len(qs) != 1 {
						t.Fatalf("%d questions, want 1", len(qs))
					}
					for _, w := range []string{"确认退款 ¥50.00 给订单 " + no + "? / Refund ¥50.00 on order " + no + "?", "¥199.00", "画错了颜色", "local Alipay"} {
						if !strings.Contains(qs[0], w) {
							t.Errorf("question lacks %q:\n%s", w, qs[0])
						}
					}
				})
			}
			if !strings.Contains(s.wire.String(), v.onWire) {
				t.Errorf("the wire lacks %s", v.onWire)
			}
		})
	}
}

// AP_REFUND_CONFIRM through the binary, with clients that can and cannot ask.
func TestRefundConfirmSetting(t *testing.T) {
	yes := &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}
	tests := []struct {
		name, value string
		canAsk      bool
		version     string
		refunded    bool
		asked       int
		want        string // in the result text
	}{
		{"auto, client cannot ask", "", false, "", true, 0, "Refund succeeded"},
		{"auto, legacy client cannot ask", "auto", false, "2025-11-25", true, 0, "Refund succeeded"},
		{"always, client cannot ask", "always", false, "", false, 0, "AP_REFUND_CONFIRM=always"},
		{"always, legacy client cannot ask", "always", false, "2025-11-25", false, 0, "AP_REFUND_CONFIRM=always"},
		{"always, client asks", "always", true, "", true, 1, "Refund succeeded"},
		{"never", "never", true, "", true, 0, "Refund succeeded"},
		{"never, legacy", "never", true, "2025-11-25", true, 0, "Refund succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u *user
			if tt.canAsk {
				u = &user{answer: yes}
			}
			s := newEnv(t, map[string]string{"AP_REFUND_CONFIRM": tt.value}).connectAsking(t, tt.version, u)
			no := s.paidOrder(t, "SET")
			res := s.call(t, tools.NameRefundPay, refundArgs(no))
			if tt.refunded {
				mustOK(t, res)
			} else {
				mustToolError(t, res, "refund API was not called")
			}
			if !strings.Contains(resText(res), tt.want) {
				t.Errorf("text lacks %q:\n%s", tt.want, resText(res))
			}
			if done := s.refundDone(t, no, no+"-R1"); done != tt.refunded {
				t.Errorf("refund at the local Alipay: %t, want %t", done, tt.refunded)
			}
			if u != nil && len(u.asked()) != tt.asked {
				t.Errorf("asked %d times, want %d", len(u.asked()), tt.asked)
			}
			if tt.asked == 0 && (strings.Contains(s.wire.String(), "elicitation/create") || strings.Contains(s.wire.String(), "inputRequests")) {
				t.Error("a question went over the wire")
			}
		})
	}
}

// A bad AP_REFUND_CONFIRM stops start-up, naming the variable and the values.
func TestRefundConfirmBadValue(t *testing.T) {
	_, stderr, code := runBinary(t, newEnv(t, map[string]string{"AP_REFUND_CONFIRM": "yes"}))
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, w := range []string{"AP_REFUND_CONFIRM", `"yes"`, "auto", "always", "never"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}
