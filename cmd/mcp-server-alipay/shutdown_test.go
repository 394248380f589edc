package main

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// SIGTERM to the http command with a wait-alipay-payment call in flight:
// the listener closes at once, the call still gets its real answer when
// the buyer pays, and the process then exits 0.
func TestHTTPCommandSIGTERMDrains(t *testing.T) {
	gw := startLocal(t)
	vars := gatewayEnv(gw)
	vars["AP_HTTP_TOKENS"] = "platform:all:" + httpToken
	s := startHTTP(t, newEnv(t, vars))
	progress := make(chan struct{}, 100)
	cs := s.goClientWith(t, "2025-11-25", httpToken, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress <- struct{}{} }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	no := orderNo("SIGTERM")
	link := webLink(ctx, t, cs, no, "3.5", "t")
	waited := make(chan string, 1)
	go func() {
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWaitPay,
			Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","timeoutSeconds":50}`), Meta: mcp.Meta{"progressToken": "p1"}})
		if err != nil {
			waited <- "error: " + err.Error()
			return
		}
		waited <- resultText(r)
	}()
	select {
	case <-progress: // the wait is running
	case <-ctx.Done():
		t.Fatal("no progress from the wait")
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.url)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted 5 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case got := <-waited:
		t.Fatalf("the wait ended before the buyer paid: %s", got)
	case err := <-s.exited:
		t.Fatalf("exited with a call in flight: %v\n%s", err, s.stderr.String())
	default:
	}

	if _, err := localalipay.PayLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-waited:
		if !strings.Contains(got, "TRADE_SUCCESS") {
			t.Errorf("the wait in flight at SIGTERM answered %s", got)
		}
	case <-ctx.Done():
		t.Fatal("the wait in flight at SIGTERM got no answer")
	}
	s.waitExit(t, 35*time.Second)
	if !strings.Contains(s.stderr.String(), "已停止 / stopped") {
		t.Errorf("stderr:\n%s", s.stderr.String())
	}
}
