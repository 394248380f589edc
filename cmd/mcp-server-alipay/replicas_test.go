package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nginxtest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// Two replicas behind Debian's nginx configured as docs/deploy.md says;
// replica a is killed with SIGKILL under traffic from clients of both eras.
// Every refund a call reports as made exists at Alipay (no false success),
// and every client carries on through nginx: 2026-07-28 clients at once,
// session clients after opening a new session when theirs was on a.
func TestReplicasBehindNginx(t *testing.T) {
	gw := startLocal(t)
	start := func(name string) *httpServer {
		vars := gatewayEnv(gw)
		vars["AP_HTTP_TOKENS"] = "platform:all:" + httpToken
		vars["AP_HTTP_REPLICA"] = name
		vars["AP_STATE_KEY"] = "replicas-share-this-key-0123456789abcdef"
		vars["AP_WATCH_PAYMENTS"] = "false"
		return startHTTP(t, newEnv(t, vars))
	}
	a, b := start("a"), start("b")
	addr := func(s *httpServer) string {
		return strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/mcp")
	}
	lb := nginxtest.Start(t, []nginxtest.Replica{{Name: "a", Addr: addr(a)}, {Name: "b", Addr: addr(b)}})
	endpoint := lb.URL + "/mcp"

	// Clients confirm every refund they are asked about; a 2026-07-28
	// client's answer comes in a second request, which round robin sends to
	// the other replica: AP_STATE_KEY lets it open the state the first sealed.
	confirm := &mcp.ClientOptions{ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
	}}
	connect := func(proto string) (*mcp.ClientSession, error) {
		c := mcp.NewClient(&mcp.Implementation{Name: "replica-test", Version: "1"}, confirm)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1,
			HTTPClient: &http.Client{Transport: bearerTransport{httpToken}}}, &mcp.ClientSessionOptions{ProtocolVersion: proto})
	}

	// Before the traffic: one 2026-07-28 client alone, so that round robin
	// alternates strictly and every answer reaches the replica that did not
	// ask.
	solo, err := connect("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		no := fmt.Sprintf("SOLO%d-%d", time.Now().UnixNano()%1e8, i)
		var mu sync.Mutex
		ok, err := payAndRefund(solo, no, &mu, func(string) {})
		if err != nil || !ok {
			t.Fatalf("confirmed refund %d across replicas: %v %v", i, ok, err)
		}
	}
	solo.Close()

	type claim struct{ no, req string }
	var (
		mu       sync.Mutex
		claimed  []claim // refunds reported as made
		killed   atomic.Bool
		onA      atomic.Int32 // session clients whose session was on a
		calls    atomic.Int32
		failures atomic.Int32
	)
	const clients, afterKill = 6, 6
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1e8)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		proto := ""
		if i%2 == 1 {
			proto = "2025-11-25"
		}
		wg.Go(func() {
			cs, err := connect(proto)
			if err != nil {
				errs <- fmt.Errorf("client %d connect: %v", i, err)
				return
			}
			defer func() {
				if cs != nil {
					cs.Close()
				}
			}()
			// The first session client makes sure its session is on a, the
			// replica to be killed, so the path of a lost session is taken.
			for try := 0; i == 1 && !strings.HasPrefix(cs.ID(), "a.") && try < 10; try++ {
				cs.Close()
				if cs, err = connect(proto); err != nil {
					errs <- fmt.Errorf("client %d connect: %v", i, err)
					return
				}
			}
			if strings.HasPrefix(cs.ID(), "a.") {
				onA.Add(1)
			}
			okAfterKill := 0
			for n := 0; okAfterKill < afterKill; n++ {
				if n > 100 {
					errs <- fmt.Errorf("client %d (%q): no progress after the kill", i, proto)
					return
				}
				wasKilled := killed.Load()
				no := fmt.Sprintf("R%s-%d-%d", run, i, n)
				ok, err := payAndRefund(cs, no, &mu, func(req string) {
					claimed = append(claimed, claim{no, req})
				})
				calls.Add(1)
				if err != nil {
					if failures.Add(1) < 12 {
						t.Logf("client %d (%q) call %d: %v", i, proto, n, err)
					}
					if !killed.Load() {
						errs <- fmt.Errorf("client %d: failure before the kill: %v", i, err)
						return
					}
					// Back off as a client should: Retry-After (1 s) on 429,
					// a moment otherwise.
					if strings.Contains(err.Error(), "Too Many Requests") {
						time.Sleep(time.Second)
					} else {
						time.Sleep(50 * time.Millisecond)
					}
					// The session's replica is gone (404): open a new one.
					if proto != "" {
						cs.Close()
						if cs, err = connect(proto); err != nil {
							errs <- fmt.Errorf("client %d reconnect: %v", i, err)
							return
						}
					}
					continue
				}
				if ok && wasKilled {
					okAfterKill++
				}
			}
		})
	}
	// Kill a once traffic flows through both replicas.
	deadline := time.Now().Add(time.Minute)
	for calls.Load() < 2*clients {
		if time.Now().After(deadline) {
			t.Fatalf("no traffic: %d calls\n%s", calls.Load(), lb.ErrorLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// No false success: every refund reported as made is at Alipay.
	ctx := context.Background()
	for _, c := range claimed {
		d, err := gw.Trade(ctx, c.no)
		if err != nil {
			t.Errorf("%s: %v", c.no, err)
			continue
		}
		found := false
		for _, r := range d.Refunds {
			found = found || r.OutRequestNo == c.req
		}
		if !found {
			t.Errorf("refund %s of %s reported as made, but Alipay has none", c.req, c.no)
		}
	}
	t.Logf("%d calls, %d failed around the kill, %d refunds verified, %d session clients were on a", calls.Load(), failures.Load(), len(claimed), onA.Load())
	if onA.Load() == 0 {
		t.Error("no session was on the killed replica")
	}
	if len(claimed) < clients*afterKill {
		t.Errorf("only %d refunds made", len(claimed))
	}
}

// payAndRefund creates a link through the replicas, pays it at Alipay, and
// refunds 0.01 through the replicas. ok says the refund was reported made;
// err is a protocol error (a replica gone mid-call).
func payAndRefund(cs *mcp.ClientSession, no string, mu *sync.Mutex, claim func(req string)) (ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWebPagePay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","totalAmount":1,"orderTitle":"t"}`)})
	if err != nil {
		return false, err
	}
	if res.IsError {
		return false, fmt.Errorf("create: %s", resultText(res))
	}
	if _, err := localalipay.PayLink(ctx, res.StructuredContent.(map[string]any)["url"].(string)); err != nil {
		return false, fmt.Errorf("pay: %w", err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameRefundPay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","refundAmount":0.01,"outRequestNo":"RF1"}`)})
	if err != nil {
		return false, err
	}
	if res.IsError {
		if strings.Contains(resultText(res), "CONFIRMATION") || strings.Contains(resultText(res), "确认") {
			return false, fmt.Errorf("refund confirmation refused: %s", resultText(res))
		}
		return false, nil
	}
	mu.Lock()
	claim("RF1")
	mu.Unlock()
	return true, nil
}
