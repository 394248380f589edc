package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paidhook"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// TestPaidWebhookEndToEnd: the merchant is told when a buyer pays, through
// the binary. A link is made, the buyer pays at the local Alipay, the
// watch sees it, the ledger queues the event, and the sender POSTs it,
// signed, to AP_PAID_WEBHOOK; the secret and the token in the URL's path
// never reach the log file.
func TestPaidWebhookEndToEnd(t *testing.T) {
	const secret = "e2e-paid-webhook-secret-0123456789"
	const pathToken = "tok-in-path-5f1c9e"
	type hit struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var hits []hit
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, hit{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	e := newEnv(t, map[string]string{
		"AP_PAID_WEBHOOK":        srv.URL + "/hooks/" + pathToken,
		"AP_PAID_WEBHOOK_SECRET": secret,
		"AP_LOG_ENABLED":         "true",
	})
	s := e.connect(t)
	no := orderNo("PAIDHOOK")
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":88.80,"orderTitle":"定制插画 Custom illustration"}`)
	mustOK(t, res)
	if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(bound)
	var got hit
	for {
		mu.Lock()
		n := len(hits)
		if n > 0 {
			got = hits[0]
		}
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no paid notification within %s\nstderr:\n%s", bound, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := paidhook.Verify(secret, got.header.Get(paidhook.HeaderSignature), got.body, time.Now(), 0); err != nil {
		t.Errorf("signature: %v", err)
	}
	var p map[string]string
	if err := json.Unmarshal(got.body, &p); err != nil {
		t.Fatalf("body %s: %v", got.body, err)
	}
	if p["type"] != "order.paid" || p["out_trade_no"] != no || p["amount"] != "88.80" || p["env"] != "local" ||
		p["trade_no"] == "" || p["app_id"] == "" || p["id"] == "" || p["id"] != got.header.Get(paidhook.HeaderEventID) {
		t.Errorf("event %s, id header %q", got.body, got.header.Get(paidhook.HeaderEventID))
	}
	for _, leak := range []string{"sign", "key", "token", "url"} {
		if _, ok := p[leak]; ok {
			t.Errorf("event carries %q: %s", leak, got.body)
		}
	}

	logPath := filepath.Join(e.home, "mcp-server-alipay.log")
	var log []byte
	for deadline := time.Now().Add(bound); ; time.Sleep(10 * time.Millisecond) {
		log, _ = os.ReadFile(logPath)
		if strings.Contains(string(log), "paid notification delivered") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(string(log), "paid notification delivered") {
		t.Errorf("the log does not record the delivery:\n%s", log)
	}
	for _, leak := range []string{secret, pathToken} {
		if strings.Contains(string(log), leak) || strings.Contains(s.stderr.String(), leak) {
			t.Errorf("%q reached the log or stderr", leak)
		}
	}
}
