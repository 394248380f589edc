package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// TestDailyLimitAcrossReplicas: two `mcp-server-alipay http` replicas on one
// PostgreSQL ledger with AP_REFUND_DAILY_LIMIT=5. Eight refunds of 1.00, on
// eight paid orders, race through both replicas at once: exactly five go
// through, the other three are refused naming the limit before Alipay is
// asked, and Alipay holds exactly the five reported.
func TestDailyLimitAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.Database(t)
	gw := startLocal(t)
	start := func(name string) *httpServer {
		vars := gatewayEnv(gw)
		vars["AP_HTTP_REPLICA"] = name
		vars["AP_DATABASE_URL"] = dbURL
		vars["AP_STATE_KEY"] = "replicas-share-this-key-0123456789abcdef"
		vars["AP_REFUND_CONFIRM"] = "never"
		vars["AP_REFUND_DAILY_LIMIT"] = "5"
		vars["AP_WATCH_PAYMENTS"] = "false"
		vars["AP_LOG_ENABLED"] = "false"
		return startHTTP(t, newEnv(t, vars))
	}
	replicas := []*httpServer{start("a"), start("b")}

	call := func(cs *mcp.ClientSession, tool, args string) (*mcp.CallToolResult, error) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return cs.CallTool(cctx, &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
	}
	// Eight paid orders of 1.23, made through replica a.
	first := replicas[0].goClient(t, "", "")
	var orders []string
	for i := range 8 {
		no := orderNo(fmt.Sprintf("LIMIT%d", i))
		res, err := call(first, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":1.23,"orderTitle":"限额"}`)
		if err != nil || res.IsError {
			t.Fatalf("link %s: %v %s", no, err, resText(res))
		}
		if _, err := localalipay.PayLink(ctx, structuredField(res, "url")); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, no)
	}

	// One client per refund, alternating replicas, all at once.
	clients := make([]*mcp.ClientSession, len(orders))
	for i := range orders {
		clients[i] = replicas[i%2].goClient(t, "", "")
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		done    []string
		refused []string
		other   []string
	)
	startGun := make(chan struct{})
	for i, no := range orders {
		wg.Go(func() {
			<-startGun
			res, err := call(clients[i], tools.NameRefundPay, `{"outTradeNo":"`+no+`","refundAmount":1,"outRequestNo":"`+no+`-R"}`)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				other = append(other, fmt.Sprintf("%s: %v", no, err))
			case !res.IsError:
				done = append(done, no)
			case strings.Contains(resText(res), "AP_REFUND_DAILY_LIMIT"):
				refused = append(refused, no)
			default:
				other = append(other, no+": "+resText(res))
			}
		})
	}
	close(startGun)
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected outcomes: %v", other)
	}
	if len(done) != 5 || len(refused) != 3 {
		t.Fatalf("%d refunds made, %d refused for the daily limit; want 5 and 3", len(done), len(refused))
	}
	made := 0
	for _, no := range orders {
		d, err := gw.Trade(ctx, no)
		if err != nil {
			t.Fatal(err)
		}
		made += len(d.Refunds)
	}
	if made != 5 {
		t.Fatalf("Alipay holds %d refunds, the replicas reported 5", made)
	}
}
