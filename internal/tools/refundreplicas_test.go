package tools

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// TestRefundConfirmationAcrossReplicas: replicas share AP_STATE_KEY and the
// ledger. A question one replica asks is judged by another; its one answer
// is spent in the ledger, so a replay on any replica is refused; a replica
// with another key refuses the state.
func TestRefundConfirmationAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acct := l.Account("2021000000000001", "prod")
	key := []byte("0123456789abcdef0123456789abcdef-shared")
	yes := mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}}
	no := mcp.InputResponseMap{confirmInput: &mcp.ElicitResult{Action: "decline"}}

	d, g := newDeps(t, statefulGateway(ok("")))
	replica := func(key []byte) *mcp.ClientSession {
		t.Helper()
		rd := d
		rd.StateKey, rd.Answers = key, acct
		return connectClient(t, Options{Deps: rd}, &mcp.ClientOptions{
			ElicitationHandler: (&asker{}).handle,
			MultiRoundTrip:     &mcp.MultiRoundTripOptions{Disabled: true},
		}, newest)
	}
	a, b := replica(key), replica(key)
	stranger := replica([]byte("another-key-another-key-another-key"))
	round := func(cs *mcp.ClientSession, state string, r mcp.InputResponseMap) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: NameRefundPay, Arguments: json.RawMessage(askArgs), RequestState: state, InputResponses: r})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	refunds := func() int { return strings.Count(strings.Join(g.methods(), ","), "alipay.trade.refund") }

	asked := round(a, "", nil)
	if !asked.NeedsInput() || asked.RequestState == "" {
		t.Fatalf("replica a did not ask: %s", text(asked))
	}
	state := asked.RequestState
	wantError(t, round(stranger, state, yes), notCalled, "invalid")
	wantError(t, round(b, state, no), "declined")
	// The "no" was spent in the ledger: a "yes" on either replica is refused.
	wantError(t, round(a, state, yes), "already answered")
	wantError(t, round(b, state, yes), "already answered")
	if n := refunds(); n != 0 {
		t.Fatalf("%d refund calls after a no, want 0", n)
	}
	// The ledger holds the spent answer.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(state, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c confirmClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if free, err := acct.AcquireLease(ctx, "refund-answer:"+c.Nonce, "probe", time.Minute); err != nil || free {
		t.Fatalf("the ledger does not hold the spent answer: free=%v err=%v", free, err)
	}

	// A fresh question asked by b, answered yes on a: refunded once.
	state = round(b, "", nil).RequestState
	wantOK(t, round(a, state, yes))
	if n := refunds(); n != 1 {
		t.Fatalf("%d refund calls, want 1", n)
	}

	// The ledger down: the answer is not taken (fail closed).
	d, g = newDeps(t, statefulGateway(ok("")))
	a, b = replica(key), replica(key)
	state = round(a, "", nil).RequestState
	if state == "" {
		t.Fatal("replica a did not ask about a second refund")
	}
	l.Close()
	wantError(t, round(b, state, yes), notCalled, "ledger")
	if n := refunds(); n != 0 {
		t.Fatalf("%d refund calls with the ledger down, want 0", n)
	}
}
