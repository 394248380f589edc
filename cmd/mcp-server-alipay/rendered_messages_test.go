package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/notify"
)

// TestRenderedErrorsChineseFirst: the errors the Alipay client and the
// notification receiver render at run time (cancelled or timed-out calls,
// an answer that does not verify, rejected notifications) follow the
// convention too, with the wrapped Go error after them: not
// "context deadline exceeded (请求已取消或超时)".
func TestRenderedErrorsChineseFirst(t *testing.T) {
	app, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ali, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const appID = "2021000000000001"
	client := func(t *testing.T, h http.HandlerFunc) *alipay.Client {
		t.Helper()
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		t.Cleanup(func() { srv.CloseClientConnections() })
		c, err := alipay.NewClient(alipay.Config{AppID: appID, PrivateKey: app, AlipayPublicKey: &ali.PublicKey, GatewayURL: srv.URL + "/gateway.do"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// stall holds the answer until the client gives up (and at most 3 s,
	// so that the server's Close does not wait on it for ever).
	stall := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		timeout time.Duration // 0: the context is cancelled before the call
		want    string
	}{
		{"cancelled before sending", stall, 0, "not sent again"},
		{"gateway stalls", stall, 100 * time.Millisecond, "cancelled or timed out"},
		{"gateway stalls after headers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"alipay_trade_query_response":`))
			w.(http.Flusher).Flush()
			stall(w, r)
		}, 100 * time.Millisecond, "cancelled or timed out"},
		{"deadline during the retry's backoff", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}, 60 * time.Millisecond, "cancelled or timed out"},
		{"answer signed by another key", func(w http.ResponseWriter, r *http.Request) {
			content := `{"code":"10000","msg":"Success","trade_no":"2026112922001400000000000001","out_trade_no":"T1","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}`
			sig, err := alipay.Sign(other, alipay.RSA2, []byte(content))
			if err != nil {
				t.Error(err)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"alipay_trade_query_response":` + content + `,"sign":"` + sig + `"}`))
		}, 5 * time.Second, "AP_PUB_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client(t, tc.h)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.timeout > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.timeout)
			}
			defer cancel()
			if tc.timeout == 0 {
				cancel()
			}
			_, err := c.Query(ctx, "T1")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error lacks %q: %s", tc.want, msg)
			}
			if p := messageProblem(msg); p != "" {
				t.Errorf("%s\nin: %s", p, msg)
			}
		})
	}

	t.Run("rejected notifications", func(t *testing.T) {
		ctx := context.Background()
		l, err := ledger.Open(ctx, ledger.Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var mu sync.Mutex
		var logBuf bytes.Buffer
		h, err := notify.New(notify.Options{Store: l.Account(appID, "local"), AppID: appID, AlipayKey: &ali.PublicKey,
			Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logBuf}, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		params := func(drop string) map[string]string {
			p := map[string]string{"notify_time": "2026-11-29 12:00:10", "notify_type": "trade_status_sync", "notify_id": "n-1",
				"app_id": appID, "charset": "utf-8", "version": "1.0", "trade_no": "2026112922001400000000000001",
				"out_trade_no": "T1", "trade_status": "TRADE_SUCCESS", "total_amount": "1.00"}
			delete(p, drop)
			return p
		}
		post := func(p map[string]string, key *rsa.PrivateKey) {
			v, err := alipay.SignNotification(key, alipay.RSA2, p)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.PostForm(srv.URL, v)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		post(params(""), other)
		post(params("notify_id"), ali)
		post(params("out_trade_no"), ali)
		mu.Lock()
		lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
		mu.Unlock()
		var reasons []string
		for _, line := range lines {
			var rec struct{ Reason string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Reason != "" {
				reasons = append(reasons, rec.Reason)
			}
		}
		if len(reasons) != 3 {
			t.Fatalf("%d rejection reasons logged, want 3:\n%s", len(reasons), strings.Join(lines, "\n"))
		}
		for i, w := range []string{"invalid signature", "no notify_id", "no out_trade_no"} {
			if !strings.Contains(reasons[i], w) {
				t.Errorf("reason %q lacks %q", reasons[i], w)
			}
		}
		for _, r := range reasons {
			if p := messageProblem(r); p != "" {
				t.Errorf("%s\nin: %s", p, r)
			}
		}
	})
}

// lockedWriter serialises the log's writes.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
