package paywatch_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// replayingCache is a broken cache in front of a gateway: once it has an
// answer, it replays that answer to every later request. The answers are
// Alipay's own, correctly signed, but about the order first asked for.
type replayingCache struct {
	srv    *httptest.Server
	mu     sync.Mutex
	cached []byte
}

func newReplayingCache(t *testing.T, gateway string) *replayingCache {
	t.Helper()
	c := &replayingCache{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		body := c.cached
		c.mu.Unlock()
		if body == nil {
			req, err := http.NewRequestWithContext(r.Context(), r.Method, gateway+"?"+r.URL.RawQuery, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			c.mu.Lock()
			c.cached = body
			c.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.Write(body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// TestWatchRefusesAnswersAboutAnotherOrder: order B is paid; a cache
// replays Alipay's signed TRADE_SUCCESS for B when order A is queried. The
// watcher never reports A as paid (nor any status of A): the watch ends,
// and the log says why.
func TestWatchRefusesAnswersAboutAnotherOrder(t *testing.T) {
	l := startLocal(t)
	noB, linkB := l.link(t, 29)
	if _, err := localalipay.PayLink(context.Background(), linkB); err != nil {
		t.Fatal(err)
	}
	noA, _ := l.link(t, 29)

	cache := newReplayingCache(t, l.srv.URL()+"/gateway.do")
	cr := l.srv.Credentials()
	cr.GatewayURL = cache.srv.URL + "/gateway.do"
	client := l1Client(t, cr)
	// B's answer goes into the cache, and is bound to B.
	if q, err := client.Query(context.Background(), noB); err != nil || q.TradeStatus != alipay.TradeSuccess {
		t.Fatalf("query of B through the cache: %+v, %v", q, err)
	}

	var log bytes.Buffer
	w, clk, rec := newWatcher(t, client, paywatch.Options{Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	done := w.Watch(noA)
	clk.next(t)
	waitDone(t, done)
	rec.none(t)
	if !strings.Contains(log.String(), "answered about another order") {
		t.Errorf("log does not say why the watch stopped:\n%s", log.String())
	}
}
