package httpserve

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// The tools served by default (close-alipay-payment is opt-in), by scope,
// in the order tools/list gives them (by name).
var (
	allTools  = []string{tools.NameQRPay, tools.NameMobilePay, tools.NameWebPagePay, tools.NameListOrders, tools.NameQueryPay, tools.NameRefundQuery, tools.NameRefundPay, tools.NameWaitPay}
	readTools = []string{tools.NameListOrders, tools.NameQueryPay, tools.NameRefundQuery, tools.NameWaitPay}
	payTools  = []string{tools.NameQRPay, tools.NameMobilePay, tools.NameWebPagePay, tools.NameListOrders, tools.NameQueryPay, tools.NameRefundQuery, tools.NameWaitPay} // read+pay
)

// Every protocol revision the SDK speaks gets the same tools: 2026-07-28
// statelessly (no session id), the older ones with a session.
func TestEveryRevisionListsAndCalls(t *testing.T) {
	h := start(t, nil)
	for i, proto := range []string{"", "2025-11-25", "2025-06-18", "2025-03-26"} {
		t.Run("proto="+proto, func(t *testing.T) {
			cs := h.connect(t, proto, "", nil)
			want := proto
			if want == "" {
				want = "2026-07-28"
			}
			if got := cs.InitializeResult().ProtocolVersion; got != want {
				t.Fatalf("negotiated %s, want %s", got, want)
			}
			if stateless := cs.ID() == ""; stateless != (want == "2026-07-28") {
				t.Errorf("session id %q at %s: want a session exactly for revisions before 2026-07-28", cs.ID(), want)
			}
			if got := toolNames(t, cs); !slices.Equal(got, allTools) {
				t.Errorf("tools/list = %v, want %v", got, allTools)
			}
			no := fmt.Sprintf("HTTP%d%d", i, time.Now().UnixNano())
			res, err := callTool(context.Background(), cs, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":19.99,"orderTitle":"定制插画"}`)
			if err != nil || res.IsError {
				t.Fatalf("create link: %v %v", err, res)
			}
			link := res.StructuredContent.(map[string]any)["url"].(string)
			if _, err := localalipay.PayLink(context.Background(), link); err != nil {
				t.Fatal(err)
			}
			res, err = callTool(context.Background(), cs, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`)
			if err != nil || res.IsError || !strings.Contains(resultText(res), "TRADE_SUCCESS") {
				t.Fatalf("query: %v %s", err, resultText(res))
			}
		})
	}
	if got := h.svc.Metrics().toolCalls.Value(tools.NameWebPagePay, "ok"); got != 4 {
		t.Errorf("metrics count %d ok web-page calls, want 4", got)
	}
}

// A subscriber is told when the buyer pays, in both eras: resources/subscribe
// plus the session's GET stream before 2026-07-28, subscriptions/listen on
// 2026-07-28.
func TestSubscriptionBothRevisions(t *testing.T) {
	h := start(t, nil)
	for _, proto := range []string{"", "2025-11-25"} {
		t.Run("proto="+proto, func(t *testing.T) {
			updated := make(chan string, 10)
			cs := h.connect(t, proto, "", &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
				updated <- r.Params.URI
			}})
			no := fmt.Sprintf("SUB%d", time.Now().UnixNano())
			res, err := callTool(context.Background(), cs, tools.NameMobilePay, `{"outTradeNo":"`+no+`","totalAmount":0.07,"orderTitle":"t"}`)
			if err != nil || res.IsError {
				t.Fatalf("create link: %v %v", err, res)
			}
			uri := tools.TradeURI(no)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
				t.Fatal(err)
			}
			link := res.StructuredContent.(map[string]any)["url"].(string)
			if _, err := localalipay.PayLink(ctx, link); err != nil {
				t.Fatal(err)
			}
			// The watch reports every change (opened, then paid); read until
			// the resource says paid.
			for {
				select {
				case got := <-updated:
					if got != uri {
						t.Fatalf("updated %s, want %s", got, uri)
					}
					rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
					if err != nil {
						t.Fatal(err)
					}
					if strings.Contains(rr.Contents[0].Text, `"paid":true`) {
						return
					}
				case <-ctx.Done():
					t.Fatal("no resources/updated saying paid")
				}
			}
		})
	}
}

// A refund asks the human in both eras: ServerSession.Elicit on a stateful
// session, a multi-round-trip request on 2026-07-28, which the Go client
// answers with its elicitation handler either way.
func TestRefundConfirmationBothRevisions(t *testing.T) {
	h := start(t, nil)
	for _, proto := range []string{"", "2025-11-25"} {
		t.Run("proto="+proto, func(t *testing.T) {
			asked := 0
			cs := h.connect(t, proto, "", &mcp.ClientOptions{ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				asked++
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
			}})
			no := fmt.Sprintf("RF%d", time.Now().UnixNano())
			res, err := callTool(context.Background(), cs, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":10,"orderTitle":"t"}`)
			if err != nil || res.IsError {
				t.Fatalf("create link: %v %v", err, res)
			}
			if _, err := localalipay.PayLink(context.Background(), res.StructuredContent.(map[string]any)["url"].(string)); err != nil {
				t.Fatal(err)
			}
			res, err = callTool(context.Background(), cs, tools.NameRefundPay, `{"outTradeNo":"`+no+`","refundAmount":2.5,"outRequestNo":"R1"}`)
			if err != nil || res.IsError {
				t.Fatalf("refund: %v %s", err, resultText(res))
			}
			if asked != 1 {
				t.Errorf("the user was asked %d times, want 1", asked)
			}
		})
	}
}

// Progress notifications of a long call reach the caller in both eras, on
// the call's own event stream; and a wait wakes when the buyer pays.
func TestProgressAndWaitBothRevisions(t *testing.T) {
	h := start(t, nil)
	for _, proto := range []string{"", "2025-11-25"} {
		t.Run("proto="+proto, func(t *testing.T) {
			progress := make(chan float64, 100)
			cs := h.connect(t, proto, "", &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				progress <- r.Params.Progress
			}})
			no := fmt.Sprintf("WAIT%d", time.Now().UnixNano())
			res, err := callTool(context.Background(), cs, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":1,"orderTitle":"t"}`)
			if err != nil || res.IsError {
				t.Fatalf("create link: %v %v", err, res)
			}
			type answer struct {
				res *mcp.CallToolResult
				err error
			}
			got := make(chan answer, 1)
			go func() {
				r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tools.NameWaitPay,
					Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","timeoutSeconds":50}`), Meta: mcp.Meta{"progressToken": "p1"}})
				got <- answer{r, err}
			}()
			select {
			case <-progress:
			case <-time.After(10 * time.Second):
				t.Fatal("no progress notification")
			}
			start := time.Now()
			if _, err := localalipay.PayLink(context.Background(), res.StructuredContent.(map[string]any)["url"].(string)); err != nil {
				t.Fatal(err)
			}
			a := <-got
			if a.err != nil || a.res.IsError || !strings.Contains(resultText(a.res), "TRADE_SUCCESS") {
				t.Fatalf("wait: %v %s", a.err, resultText(a.res))
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("the wait took %v after the payment", d)
			}
		})
	}
}

// A named replica's session ids start with its name, for the proxy's
// routing; every id is fresh.
func TestSessionIDsNameTheReplica(t *testing.T) {
	gen := SessionIDs("r2")
	seen := map[string]bool{}
	for range 1000 {
		id := gen()
		if !strings.HasPrefix(id, "r2.") || len(id) != 3+26 || seen[id] {
			t.Fatalf("session id %q", id)
		}
		seen[id] = true
	}
	if id := SessionIDs("")(); len(id) != 26 || strings.Contains(id, ".") {
		t.Errorf("unnamed: %q", id)
	}
	for _, bad := range []string{"R2", "a.b", strings.Repeat("x", 33)} {
		if checkReplica(bad) == nil {
			t.Errorf("replica name %q accepted", bad)
		}
	}
}

// Request ids come back exactly as sent, even those a float64 cannot hold.
func TestRequestIDsExact(t *testing.T) {
	h := start(t, nil)
	for _, id := range []string{`9007199254740993`, `-9223372036854775808`, `"abc"`, `0`} {
		body := strings.Replace(initBody, `"id":1`, `"id":`+id, 1)
		resp, got := h.post(t, body, nil)
		if resp.StatusCode != 200 || !strings.Contains(got, `"id":`+id+`,`) {
			t.Errorf("id %s: %d %s", id, resp.StatusCode, got)
		}
	}
}
