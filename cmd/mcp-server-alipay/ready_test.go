package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/httpserve"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// readyz is one /readyz answer.
type readyz struct {
	code   int
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	body   string
}

func getReadyz(t *testing.T, base string) readyz {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := readyz{code: resp.StatusCode, body: string(b)}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("/readyz %d: %v\n%s", resp.StatusCode, err, b)
	}
	return r
}

// The configuration check of /readyz fails, with 503 and a bilingual
// reason naming the variable, for a damaged app key, an app key's own
// public half given as AP_PUB_KEY, and an AP_NOTIFY_URL whose path has no
// receiver; it passes for a sound configuration. No answer quotes a key.
func TestReadyzConfigCheck(t *testing.T) {
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	alipayKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// A key whose public half is not its own (its modulus changed): what
	// it signs does not verify under the public key it carries.
	damaged := *appKey
	damaged.PublicKey = rsa.PublicKey{N: new(big.Int).Add(appKey.N, big.NewInt(2)), E: appKey.E}
	pkcs8, err := alipay.EncodePrivateKeyPKCS8(appKey)
	if err != nil {
		t.Fatal(err)
	}
	const notify = "https://mcp.example.com/alipay/notify"
	receiver := map[string]http.Handler{"POST /alipay/notify": http.NotFoundHandler()}
	for _, tc := range []struct {
		name      string
		appKey    *rsa.PrivateKey
		alipayKey *rsa.PublicKey
		notifyURL string
		routes    map[string]http.Handler
		want      string // "" = ready
	}{
		{"sound", appKey, &alipayKey.PublicKey, notify, receiver, ""},
		{"sound without notify URL", appKey, &alipayKey.PublicKey, "", nil, ""},
		{"damaged app key", &damaged, &alipayKey.PublicKey, notify, receiver, "AP_APP_KEY"},
		{"app's own public key as AP_PUB_KEY", appKey, &appKey.PublicKey, notify, receiver, "AP_PUB_KEY"},
		{"no Alipay key", appKey, nil, notify, receiver, "AP_PUB_KEY"},
		{"no receiver at the notify path", appKey, &alipayKey.PublicKey, notify, map[string]http.Handler{"POST /other": http.NotFoundHandler()}, "AP_NOTIFY_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := serveReady(t, []httpserve.Check{{Name: "config", Check: configCheck(tc.appKey, alipay.RSA2, tc.alipayKey, tc.notifyURL, tc.routes)}})
			r := getReadyz(t, base)
			if tc.want == "" {
				if r.code != 200 || r.Checks["config"] != "ok" {
					t.Fatalf("/readyz: %d %s", r.code, r.body)
				}
				return
			}
			reason := r.Checks["config"]
			if r.code != http.StatusServiceUnavailable || r.Status != "not ready" || !strings.Contains(reason, tc.want) || !strings.Contains(reason, " / ") {
				t.Errorf("/readyz: %d %s; want 503 with the config check naming %s, in Chinese / English", r.code, r.body, tc.want)
			}
			for _, v := range []string{"AP_APP_KEY", "AP_PUB_KEY", "AP_NOTIFY_URL"} {
				if v != tc.want && strings.Contains(reason, v) {
					t.Errorf("the reason names %s too: %s", v, reason)
				}
			}
			if strings.Contains(r.body, pkcs8[:40]) || strings.Contains(r.body, "PRIVATE KEY") {
				t.Errorf("/readyz quotes the key: %s", r.body)
			}
		})
	}
}

// serveReady serves an HTTP service with checks on loopback until the test
// ends and returns its base URL.
func serveReady(t *testing.T, checks []httpserve.Check) string {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "readyz-test", Version: "1"}, nil)
	s, err := httpserve.New(httpserve.Options{Server: srv, Listen: "127.0.0.1:0", Ready: checks})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// The http command's /readyz checks the configuration and the ledger: a
// ledger whose schema a newer version migrated under the running process
// makes it answer 503 naming the ledger, and it is ready again once the
// schema is back.
func TestHTTPReadyzLedgerSchema(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_HTTP_TOKENS": "platform:all:" + httpToken})
	s := startHTTP(t, e)
	base := strings.TrimSuffix(s.url, "/mcp")
	r := getReadyz(t, base)
	if r.code != 200 || r.Checks["config"] != "ok" || r.Checks["ledger"] != "ok" {
		t.Fatalf("/readyz of a sound server: %d %s\n%s", r.code, r.body, s.stderr.String())
	}

	path := filepath.Join(e.home, ".local", "share", "mcp-server-alipay", "ledger.db")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: "_pragma=busy_timeout(10000)"}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	setSchema := func(v int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			t.Fatal(err)
		}
	}
	setSchema(ledger.SchemaVersion + 1)
	r = getReadyz(t, base)
	if reason := r.Checks["ledger"]; r.code != http.StatusServiceUnavailable || !strings.Contains(reason, "newer") ||
		!strings.Contains(reason, fmt.Sprintf("v%d", ledger.SchemaVersion+1)) || r.Checks["config"] != "ok" {
		t.Errorf("/readyz with a newer schema: %d %s; want 503 naming the ledger's newer schema", r.code, r.body)
	}
	if strings.Contains(r.body, httpToken) {
		t.Error("/readyz quotes the token")
	}
	setSchema(ledger.SchemaVersion)
	if r = getReadyz(t, base); r.code != 200 {
		t.Errorf("/readyz with the schema back: %d %s", r.code, r.body)
	}
}
