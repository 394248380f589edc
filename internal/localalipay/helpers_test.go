package localalipay_test

import (
	"context"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// fastSchedule compresses Alipay's retry schedule for tests.
var fastSchedule = []time.Duration{30 * time.Millisecond, 60 * time.Millisecond, 60 * time.Millisecond,
	100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}

var (
	identityOnce sync.Once
	identityData []byte
	identityErr  error
)

// newDataDir returns a fresh data directory holding a shared, already
// generated identity, so tests do not each generate RSA keys.
func newDataDir(t testing.TB) string {
	t.Helper()
	identityOnce.Do(func() {
		dir, err := os.MkdirTemp("", "localalipay-identity-")
		if err != nil {
			identityErr = err
			return
		}
		defer os.RemoveAll(dir)
		s, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: dir})
		if err != nil {
			identityErr = err
			return
		}
		s.Close()
		identityData, identityErr = os.ReadFile(filepath.Join(dir, "identity.json"))
	})
	if identityErr != nil {
		t.Fatalf("make identity: %v", identityErr)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "identity.json"), identityData, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startServer starts a local Alipay on a random port, closed at the end.
func startServer(t testing.TB, opts localalipay.Options) *localalipay.Server {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = newDataDir(t)
	}
	if opts.NotifySchedule == nil {
		opts.NotifySchedule = fastSchedule
	}
	s, err := localalipay.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// localKeys are the local test app's private key and the Alipay public key.
func localKeys(t testing.TB, c localalipay.Credentials) (*rsa.PrivateKey, *rsa.PublicKey) {
	t.Helper()
	cfg, err := c.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.PrivateKey, cfg.AlipayPublicKey
}

// newClient is the real Go client configured with the server's credentials.
func newClient(t testing.TB, c localalipay.Credentials, mod func(*alipay.Config)) *alipay.Client {
	t.Helper()
	cfg, err := c.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	cl, err := alipay.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// notifySink is a merchant's notify_url: it records every POST and answers
// what answer(n) says for the n-th one (1-based).
type notifySink struct {
	*httptest.Server
	mu     sync.Mutex
	got    []url.Values
	ch     chan url.Values
	answer func(n int) string
}

func newSink(t testing.TB, answer func(n int) string) *notifySink {
	t.Helper()
	s := &notifySink{ch: make(chan url.Values, 100), answer: answer}
	if s.answer == nil {
		s.answer = func(int) string { return "success" }
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad notification", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, form)
		n := len(s.got)
		s.mu.Unlock()
		s.ch <- form
		io.WriteString(w, s.answer(n))
	}))
	t.Cleanup(s.Close)
	return s
}

// next waits for the next notification.
func (s *notifySink) next(t testing.TB) url.Values {
	t.Helper()
	select {
	case f := <-s.ch:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s")
		return nil
	}
}

// none asserts that no notification arrives for a while.
func (s *notifySink) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case f := <-s.ch:
		t.Fatalf("unexpected notification: %v", f)
	case <-time.After(d):
	}
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
