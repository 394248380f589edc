package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// The confirmation's harder cases through the binary: a retry after a lost
// answer, legacy refusals the SDK would turn into protocol errors, and a
// replayed request state.

// connectWith opens a session on protocol version (empty = the newest) whose
// client answers questions with h (nil: no elicitation); manual turns off
// the client's automatic multi round-trip loop.
func (e *env) connectWith(t *testing.T, version string, h func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error), manual bool) *session {
	t.Helper()
	opts := &mcp.ClientOptions{ElicitationHandler: h}
	if manual {
		opts.MultiRoundTrip = &mcp.MultiRoundTripOptions{Disabled: true}
	}
	return e.connectOpts(t, "e2e-confirm-retry", opts, &mcp.ClientSessionOptions{ProtocolVersion: version})
}

// paidAt makes a ¥199.00 order, pays it at the local Alipay and returns the
// order number and the local Alipay's base URL.
func (s *session) paidAt(t *testing.T, prefix string) (no, base string) {
	t.Helper()
	no = orderNo(prefix)
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":199.00,"orderTitle":"定制插画 Custom illustration"}`)
	mustOK(t, res)
	link := structuredField(res, "url")
	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatalf("PayLink: %v", err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return no, "http://" + u.Host
}

// refundsAt counts the refunds the local Alipay holds for order no, asking
// its control API directly.
func refundsAt(t *testing.T, base, no string) int {
	t.Helper()
	resp, err := http.Get(base + "/_local/trades/" + no)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Refunds []json.RawMessage `json:"refunds"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("control API: %v: %s", err, b)
	}
	return len(d.Refunds)
}

// rawCall is a tools/call whose protocol error is returned, not fatal.
func (s *session) rawCall(p *mcp.CallToolParams) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.CallTool(ctx, p)
}

func refundParams(no string) *mcp.CallToolParams {
	return &mcp.CallToolParams{Name: tools.NameRefundPay, Arguments: json.RawMessage(refundArgs(no))}
}

// A refund whose answer was lost moved money. The retry the server advises
// (same outRequestNo) must not ask again and must not let a "no" be read as
// "no money moved": it reports the refund as done, once.
func TestRefundRetryAfterLostAnswer(t *testing.T) {
	for _, v := range []struct{ name, version string }{{"legacy", "2025-11-25"}, {"newest", ""}} {
		t.Run(v.name, func(t *testing.T) {
			var asked atomic.Int32
			s := newEnv(t, nil).connectWith(t, v.version, func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				if asked.Add(1) == 1 {
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
				}
				return &mcp.ElicitResult{Action: "decline"}, nil
			}, false)
			no, base := s.paidAt(t, "LOST")
			setLocalFaults(t, base, `{"system_error_rate":1,"system_error_after_commit":true,"methods":["alipay.trade.refund"]}`)
			res := s.call(t, tools.NameRefundPay, refundArgs(no))
			mustToolError(t, res, "SAME outRequestNo")
			setLocalFaults(t, base, "")
			if n := refundsAt(t, base, no); n != 1 {
				t.Fatalf("%d refunds at the local Alipay after the lost answer, want 1", n)
			}
			res = s.call(t, tools.NameRefundPay, refundArgs(no))
			mustOK(t, res)
			for _, w := range []string{"Refund succeeded", "REFUND_SUCCESS", "never twice", no + "-R1"} {
				if !strings.Contains(resText(res), w) {
					t.Errorf("text lacks %q:\n%s", w, resText(res))
				}
			}
			if n := asked.Load(); n != 1 {
				t.Errorf("the user was asked %d times, want 1 (the retry of a done refund asks nobody)", n)
			}
			if n := refundsAt(t, base, no); n != 1 {
				t.Errorf("%d refunds at the local Alipay, want 1", n)
			}
		})
	}
}

// setLocalFaults sets the local Alipay's faults; empty clears them.
func setLocalFaults(t *testing.T, base, faults string) {
	t.Helper()
	method, body := http.MethodPost, io.Reader(strings.NewReader(faults))
	if faults == "" {
		method, body = http.MethodDelete, nil
	}
	req, err := http.NewRequest(method, base+"/_local/faults", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s faults: HTTP %d", method, resp.StatusCode)
	}
}

// On a legacy session every refusal is a tool error the model can read, in
// both languages, never a JSON-RPC error from the SDK; and nothing is
// refunded.
func TestRefundLegacyRefusals(t *testing.T) {
	answer := func(a *mcp.ElicitResult, err error) func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) { return a, err }
	}
	tests := []struct {
		name    string
		handler func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error)
		want    []string
	}{
		{"confirm as a string", answer(&mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": "true"}}, nil),
			[]string{"确认", "could not be confirmed"}},
		{"confirm missing", answer(&mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil),
			[]string{"确认", "could not be confirmed"}},
		{"accept without content", answer(&mcp.ElicitResult{Action: "accept"}, nil), []string{"did not confirm"}},
		{"handler error", answer(nil, errors.New("user interface unavailable")), []string{"确认", "could not be confirmed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newEnv(t, nil).connectWith(t, "2025-11-25", tt.handler, false)
			no, base := s.paidAt(t, "LGY")
			res, err := s.rawCall(refundParams(no))
			if err != nil {
				t.Fatalf("protocol error instead of a tool error: %v", err)
			}
			mustToolError(t, res, append([]string{"Refund NOT made", "query-alipay-refund"}, tt.want...)...)
			if n := refundsAt(t, base, no); n != 0 {
				t.Errorf("%d refunds at the local Alipay, want 0", n)
			}
		})
	}
}

// A legacy client that declared no elicitation at initialize but claims it
// in a request's _meta is judged by its initialize: under auto it refunds as
// before, under always it gets the tool error, never a protocol error.
func TestRefundLegacyMetaCapability(t *testing.T) {
	for _, v := range []struct {
		mode     string
		refunded bool
	}{{"auto", true}, {"always", false}} {
		t.Run(v.mode, func(t *testing.T) {
			s := newEnv(t, map[string]string{"AP_REFUND_CONFIRM": v.mode}).connectWith(t, "2025-11-25", nil, false)
			no, base := s.paidAt(t, "META")
			p := refundParams(no)
			p.SetMeta(map[string]any{mcp.MetaKeyClientCapabilities: map[string]any{"elicitation": map[string]any{}}})
			res, err := s.rawCall(p)
			if err != nil {
				t.Fatalf("protocol error: %v", err)
			}
			if v.refunded {
				mustOK(t, res)
			} else {
				mustToolError(t, res, "AP_REFUND_CONFIRM=always", "refund API was not called")
			}
			if n := refundsAt(t, base, no); n != map[bool]int{true: 1, false: 0}[v.refunded] {
				t.Errorf("%d refunds at the local Alipay", n)
			}
		})
	}
}

// A request state is good for one answer: a "no" replayed as a "yes"
// refunds nothing, and eight concurrent replays of one "yes" refund once.
func TestRefundStateReplay(t *testing.T) {
	s := newEnv(t, nil).connectWith(t, "", func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return nil, errors.New("the manual loop answers itself")
	}, true)
	yes := mcp.InputResponseMap{"confirm_refund": &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	ask := func(no string) string {
		t.Helper()
		res, err := s.rawCall(refundParams(no))
		if err != nil || !res.NeedsInput() {
			t.Fatalf("first round: %v %+v", err, res)
		}
		return res.RequestState
	}
	answer := func(no, state string, r mcp.InputResponseMap) *mcp.CallToolResult {
		p := refundParams(no)
		p.RequestState, p.InputResponses = state, r
		res, err := s.rawCall(p)
		if err != nil {
			t.Errorf("protocol error: %v", err)
			return nil
		}
		if res.NeedsInput() {
			t.Errorf("asked again on an answered state: %v", res.InputRequests)
		}
		return res
	}

	t.Run("no replayed as yes", func(t *testing.T) {
		no, base := s.paidAt(t, "RPL")
		state := ask(no)
		mustToolError(t, answer(no, state, mcp.InputResponseMap{"confirm_refund": &mcp.ElicitResult{Action: "decline"}}), "declined")
		mustToolError(t, answer(no, state, yes), "already answered", "same arguments")
		if n := refundsAt(t, base, no); n != 0 {
			t.Errorf("%d refunds at the local Alipay, want 0", n)
		}
	})

	t.Run("concurrent yes", func(t *testing.T) {
		no, base := s.paidAt(t, "CON")
		state := ask(no)
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcomes := map[string]int{}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := answer(no, state, yes)
				if res == nil {
					return
				}
				k := "refunded"
				if res.IsError {
					k = "error"
					if !strings.Contains(resText(res), "already answered") {
						k = "other error: " + resText(res)
					}
				}
				mu.Lock()
				outcomes[k]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if outcomes["refunded"] < 1 || outcomes["refunded"]+outcomes["error"] != 8 {
			t.Errorf("outcomes %v: want at least one refunded, the rest refunded or already answered", outcomes)
		}
		if n := refundsAt(t, base, no); n != 1 {
			t.Errorf("%d refunds at the local Alipay, want 1", n)
		}
		// Once the refund is done, a late replay reports it, honestly.
		res := answer(no, state, yes)
		if res != nil {
			mustOK(t, res)
			if !strings.Contains(resText(res), "never twice") {
				t.Errorf("late replay:\n%s", resText(res))
			}
		}
	})
}

// A state the server cannot use is refused with advice the model can
// follow: it never sees request states, so it is told to call again.
func TestRefundForgedStateAdvice(t *testing.T) {
	s := newEnv(t, nil).connectWith(t, "", func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return nil, errors.New("the manual loop answers itself")
	}, true)
	no, base := s.paidAt(t, "FRG")
	p := refundParams(no)
	p.RequestState = "v1.e30.AAAA"
	p.InputResponses = mcp.InputResponseMap{"confirm_refund": &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	res, err := s.rawCall(p)
	if err != nil {
		t.Fatal(err)
	}
	mustToolError(t, res, "invalid", "again with the same arguments", "the user will be asked again")
	if strings.Contains(resText(res), "requestState") {
		t.Errorf("advice names a field the model never sees:\n%s", resText(res))
	}
	if n := refundsAt(t, base, no); n != 0 {
		t.Errorf("%d refunds at the local Alipay, want 0", n)
	}
}
