package tools

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// TestCallBudgetFitsHosts: the production budget answers before hosts give
// up (60 s), and each part of a call fits inside it: one HTTP attempt, the
// checks' share, and what is left for the refund.
func TestCallBudgetFitsHosts(t *testing.T) {
	if DefaultCallBudget > 50*time.Second {
		t.Errorf("DefaultCallBudget %v is above 50 s", DefaultCallBudget)
	}
	if alipay.DefaultTimeout >= DefaultCallBudget {
		t.Errorf("one HTTP attempt (%v) does not fit in the call budget (%v)", alipay.DefaultTimeout, DefaultCallBudget)
	}
	refundWindow := DefaultCallBudget * (10 - checksShare) / 10
	if refundWindow < alipay.DefaultTimeout {
		t.Errorf("the refund gets %v after the checks, less than one attempt (%v)", refundWindow, alipay.DefaultTimeout)
	}
	if minRefundShare >= 10-checksShare {
		t.Errorf("the refund's minimum share %d/10 is not below what the checks leave (%d/10)", minRefundShare, 10-checksShare)
	}
	if (Deps{}).budget() != DefaultCallBudget {
		t.Errorf("zero Deps budget %v", (Deps{}).budget())
	}
}

// stalling is a gateway that answers the trade query (paid) through the
// signing test gateway, and for the methods in stall sends its headers and
// then never finishes the body: either nothing more, or one byte at a time.
type stalling struct {
	g       *gateway
	stall   map[string]bool
	trickle bool
	stalled atomic.Int32
	refunds atomic.Int32 // refund requests that reached the gateway
}

func (s *stalling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.stall[r.URL.Query().Get("method")] {
		s.g.ServeHTTP(w, r)
		return
	}
	s.stalled.Add(1)
	if r.URL.Query().Get("method") == alipay.MethodRefund {
		s.refunds.Add(1)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if s.trickle {
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
			}
		}
	}
}

// TestCallAnswersWithinBudget measures a call against a gateway that stalls
// after its headers, or trickles its body: with the production per-attempt
// timeout (15 s) and retries, the call still answers within its budget
// (scaled down here), and a refund that was sent says its outcome is
// unknown and to retry with the SAME outRequestNo. The bound asserted is
// the deadline plus a margin for a loaded machine, not a speed.
func TestCallAnswersWithinBudget(t *testing.T) {
	const budget = 1500 * time.Millisecond
	const margin = 3 * time.Second
	paid := func(string, map[string]any) answer {
		return ok(`"trade_no":"2026112522001400000000000009","trade_status":"TRADE_SUCCESS","total_amount":"199.00"`)
	}
	refund := `{"outTradeNo":"ILL-9","refundAmount":50,"outRequestNo":"ILL-9-R1"}`
	t.Run("resource read stalls", func(t *testing.T) {
		app, ali := testKeys(t)
		s := &stalling{g: &gateway{t: t, reply: paid}, stall: map[string]bool{alipay.MethodQuery: true}}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		c, err := alipay.NewClient(alipay.Config{AppID: "2021000000000001", PrivateKey: app, AlipayPublicKey: &ali.PublicKey,
			GatewayURL: srv.URL + "/gateway.do"})
		if err != nil {
			t.Fatal(err)
		}
		cs := connect(t, Options{Deps: Deps{Client: c, CallBudget: budget}})
		start := time.Now()
		_, err = cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: TradeURI("ILL-9")})
		if took := time.Since(start); took > budget+margin {
			t.Errorf("the read took %v; its budget is %v", took, budget)
		}
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("read of a stalling gateway: %v", err)
		}
	})
	for _, tc := range []struct {
		name    string
		tool    string
		args    string
		stall   []string
		trickle bool
		want    []string
	}{
		{"refund stalls after headers", NameRefundPay, refund, []string{alipay.MethodRefund}, false,
			[]string{"outcome is unknown", "SAME outRequestNo"}},
		{"refund trickles its body", NameRefundPay, refund, []string{alipay.MethodRefund}, true,
			[]string{"outcome is unknown", "SAME outRequestNo"}},
		{"every call stalls", NameRefundPay, refund, []string{alipay.MethodQuery, alipay.MethodRefund, alipay.MethodRefundQuery}, false,
			[]string{"outcome is unknown", "SAME outRequestNo"}},
		{"query stalls", NameQueryPay, `{"outTradeNo":"ILL-9"}`, []string{alipay.MethodQuery}, false,
			[]string{"timed out"}},
		{"refund query trickles", NameRefundQuery, `{"outTradeNo":"ILL-9","outRequestNo":"R1"}`, []string{alipay.MethodRefundQuery}, true,
			[]string{"timed out"}},
		{"qr code stalls after headers", NameQRPay, `{"outTradeNo":"ILL-9","totalAmount":199,"orderTitle":"插画"}`, []string{alipay.MethodPrecreate}, false,
			[]string{"timed out", "same outTradeNo"}},
		{"close stalls after headers", NameClosePay, `{"outTradeNo":"ILL-9"}`, []string{alipay.MethodClose}, false,
			[]string{"timed out", "closed is unknown"}},
		// The wait answers when its own timeout (2 s) is up, not paid,
		// saying the last query failed; not an error.
		{"wait stalls after headers", NameWaitPay, `{"outTradeNo":"ILL-9","timeoutSeconds":2}`, []string{alipay.MethodQuery}, false,
			[]string{"Waited 2 s", "not paid yet", "The last query failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, ali := testKeys(t)
			s := &stalling{g: &gateway{t: t, reply: paid}, stall: map[string]bool{}, trickle: tc.trickle}
			for _, m := range tc.stall {
				s.stall[m] = true
			}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			// The server's own client: 15 s per attempt, 3 attempts.
			c, err := alipay.NewClient(alipay.Config{AppID: "2021000000000001", PrivateKey: app, AlipayPublicKey: &ali.PublicKey,
				GatewayURL: srv.URL + "/gateway.do"})
			if err != nil {
				t.Fatal(err)
			}
			cs := connect(t, Options{Deps: Deps{Client: c, CallBudget: budget}, Tools: everything})
			start := time.Now()
			res := call(t, cs, tc.tool, tc.args)
			took := time.Since(start)
			limit := budget
			if tc.tool == NameWaitPay {
				limit = 2 * time.Second // its timeoutSeconds
			}
			if took > limit+margin {
				t.Errorf("the call took %v; its budget is %v", took, limit)
			}
			if tc.tool == NameWaitPay {
				wantOK(t, res)
				for _, w := range tc.want {
					if !strings.Contains(text(res), w) {
						t.Errorf("text lacks %q:\n%s", w, text(res))
					}
				}
			} else {
				wantError(t, res, tc.want...)
			}
			if s.stalled.Load() == 0 {
				t.Error("the gateway never stalled: the test tested nothing")
			}
			if tc.tool == NameRefundPay && s.refunds.Load() == 0 {
				t.Error("the refund request never reached the gateway, yet its outcome is called unknown")
			}
			t.Logf("answered in %v (budget %v)", took.Round(time.Millisecond), budget)
		})
	}
}
