package paidhook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

const testSecret = "whsec-0123456789abcdef-test"

func testEvent(i int) Event {
	out := fmt.Sprintf("T20261129%04d", i)
	return Event{
		ID:         NewEventID("local", "2021000000000001", out),
		OutTradeNo: out,
		TradeNo:    fmt.Sprintf("2026112922001400%04d", i),
		Subject:    "插画定制 / custom illustration",
		Amount:     alipay.Amount(1234 + i), // 12.34 yuan and up
		PaidAt:     time.Date(2026, 11, 29, 14, 3, 4, 0, time.UTC),
		Env:        "local",
		AppID:      "2021000000000001",
	}
}

// waitFor polls cond until it holds, failing the test after a bound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer collects a sender's log lines, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// dialTo is a client that sends every request, whatever its host, to srv:
// the bots' real URLs (https://oapi.dingtalk.com/… written as http://) are
// used unchanged, so the sender's detection of the bot runs too.
func dialTo(srv *httptest.Server) *http.Client {
	addr := srv.Listener.Addr().String()
	return &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// runSender starts s.Run and stops it (waiting for it) at cleanup.
func runSender(t testing.TB, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func fastOptions(target Target) Options {
	return Options{Target: target, Timeout: 2 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 10 * time.Millisecond}
}

func mustTarget(t testing.TB, u, secret string) Target {
	t.Helper()
	tg, err := ParseTarget(u, secret)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func mustSender(t testing.TB, ob Outbox, opts Options) *Sender {
	t.Helper()
	s, err := NewSender(ob, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
