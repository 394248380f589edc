package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nginxtest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// docs/deploy.md's order for restarting one replica, run under traffic:
// replica b is marked down in nginx and nginx reloaded, then b gets SIGTERM
// and drains, then a new b starts on the same address and nginx takes it
// back. 2026-07-28 clients call through nginx all along. No call fails:
// nginx's reload may close a client's keep-alive connection under a call,
// whose answer is then lost (sometimes after a replica made it), and that
// call sent again succeeds, one order per outTradeNo. The new b serves
// calls again.
func TestReplicaRestartBehindNginx(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.Database(t)
	gw, err := localalipay.Start(ctx, localalipay.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	lb := nginxtest.New(t)
	start := func(name string, args ...string) *httpServer {
		vars := replicaVars(gw, dbURL, lb, name)
		vars["AP_HTTP_RATE_LIMIT"] = "0" // the clients call as fast as they can
		return startHTTP(t, newEnv(t, vars), args...)
	}
	a, b := start("a"), start("b")
	replicas := []nginxtest.Replica{{Name: "a", Addr: a.hostPort()}, {Name: "b", Addr: b.hostPort()}}
	lb.Start(t, replicas)

	var calls, failures atomic.Int32
	var firstErr atomic.Value
	var mu sync.Mutex
	var made, cut []string // orders whose calls succeeded; calls cut before any answer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	run := strconv.FormatInt(time.Now().UnixNano()%1e8, 10)
	for client := range 4 {
		c := mcp.NewClient(&mcp.Implementation{Name: fmt.Sprintf("restart-%d", client), Version: "1"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: lb.URL + "/mcp", MaxRetries: -1,
			HTTPClient: &http.Client{Transport: bearerTransport{httpToken}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				no := fmt.Sprintf("RS%s-%d-%d", run, client, i)
				call := func() (*mcp.CallToolResult, error) {
					return cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWebPagePay,
						Arguments: map[string]any{"outTradeNo": no, "totalAmount": 1, "orderTitle": "t"}})
				}
				res, err := call()
				calls.Add(1)
				if err != nil && connectionCut(err) {
					// The answer was lost, not necessarily the call: the
					// same call again is safe (one order per outTradeNo).
					// The client's next pooled connection may be one the
					// same reload closed, so it tries a few times.
					mu.Lock()
					cut = append(cut, no)
					mu.Unlock()
					for try := 0; try < 5 && err != nil && connectionCut(err); try++ {
						res, err = call()
					}
				}
				switch {
				case err == nil && !res.IsError:
					mu.Lock()
					made = append(made, no)
					mu.Unlock()
				default:
					if err == nil {
						err = fmt.Errorf("tool error: %s", resultText(res))
					}
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: %w", no, err))
				}
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	// waitCalls waits until n more calls have been made.
	waitCalls := func(what string, n int32) {
		t.Helper()
		want := calls.Load() + n
		deadline := time.Now().Add(30 * time.Second)
		for calls.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d calls, want %d", what, calls.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCalls("before the restart", 20)

	// 1. Out of round robin; the old workers finish and go.
	replicas[1].Down = true
	lb.Reload(t, replicas)
	waitCalls("b down", 10)
	// 2. Stop b: it drains and exits.
	t0 := time.Now()
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.waitExit(t, 40*time.Second)
	t.Logf("b drained and exited %v after SIGTERM", time.Since(t0).Round(time.Millisecond))
	waitCalls("b stopped", 10)
	// 3. A new b on the same address, back in round robin.
	b2 := start("b", "--listen", b.hostPort())
	replicas[1].Down = false
	lb.Reload(t, replicas)
	deadline := time.Now().Add(30 * time.Second)
	for servedCalls(t, b2) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the new b served no call within 30 s of rejoining\n%s", lb.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d calls failed during the restart; first: %v\nnginx: %s", n, calls.Load(), firstErr.Load(), lb.ErrorLog())
	}
	// Every call that succeeded is recorded. A call whose
	// connection nginx's reload closed (rarely: it closes its old workers'
	// keep-alive connections) lost its answer, sometimes after a replica
	// made it; sent again, it succeeded like the others.
	led, err := ledger.Open(ctx, ledger.Options{DatabaseURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	acct := led.Account(gw.Credentials().AppID, "sandbox")
	for _, no := range made {
		if _, err := acct.Order(ctx, no); err != nil {
			t.Errorf("%s: its call succeeded, but the ledger has no order: %v", no, err)
		}
	}
	t.Logf("%d calls through the restart: %d succeeded (%d of them sent again, their connection closed by nginx's reload), %d failed",
		calls.Load(), len(made), len(cut), failures.Load())
}

// connectionCut reports whether err is a connection that closed before any
// answer came: nginx's reload closing an idle keep-alive connection as the
// client reused it.
func connectionCut(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "rejected by transport") &&
		(strings.Contains(msg, "EOF") || strings.Contains(msg, "server closed idle connection") ||
			strings.Contains(msg, "connection reset by peer") || strings.Contains(msg, "broken pipe"))
}

var toolCallsRE = regexp.MustCompile(`(?m)^mcp_tool_calls_total\{[^}]*\} (\d+)$`)

// servedCalls is the number of tool calls s has answered (its /metrics).
func servedCalls(t *testing.T, s *httpServer) int {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(s.url, "/mcp") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n := 0
	for _, m := range toolCallsRE.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}
