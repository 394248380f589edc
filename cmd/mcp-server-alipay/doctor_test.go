package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
)

// doctor shows what the ledger holds for the app, on SQLite and
// PostgreSQL, without creating it: its orders, the pinned seller (and a
// different AP_SELLER_ID), and what the paid webhook has not yet taken,
// with no password or webhook token in the output.
func TestDoctorLedger(t *testing.T) {
	gw := startLocal(t)
	const hookToken, hookSecret = "hook-token-3f9a", "hook-secret-7c41e0b2d95a"
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var o ledger.Options
			secret := hookToken
			if backend == "postgres" {
				o.DatabaseURL = pgtest.Database(t)
				secret = pgtest.Password
			} else {
				o.Path = filepath.Join(t.TempDir(), "ledger.db")
			}
			vars := with(gatewayEnv(gw), "AP_DATABASE_URL", o.DatabaseURL+o.Path)
			vars = with(vars, "AP_STATE_KEY", strings.Repeat("k", 32))
			doctor := func(vars map[string]string, want ...string) string {
				t.Helper()
				out, stderr, code := runBinary(t, newEnv(t, vars), "doctor")
				if code != 0 {
					t.Fatalf("doctor exit %d\n%s\n%s", code, out, stderr)
				}
				for _, w := range want {
					if !strings.Contains(out, w) {
						t.Errorf("doctor output lacks %q:\n%s", w, out)
					}
				}
				for _, s := range []string{hookToken, hookSecret, secret} {
					if strings.Contains(out+stderr, s) {
						t.Errorf("doctor output shows a secret (%q):\n%s\n%s", s, out, stderr)
					}
				}
				return out
			}

			doctor(vars, "✓ 账本 / ledger", "not created yet")
			if o.Path != "" {
				if _, err := os.Stat(o.Path); !os.IsNotExist(err) {
					t.Fatalf("doctor created the ledger file (stat: %v)", err)
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			l, err := ledger.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			a := l.Account(vars["AP_APP_ID"], "sandbox")
			for _, no := range []string{"D1", "D2"} {
				if _, _, err := a.RecordOrder(ctx, ledger.NewOrder{OutTradeNo: no, Kind: "web", Amount: 100, Title: "t", Who: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := a.RecordStatus(ctx, ledger.StatusSeen{OutTradeNo: "D1", Status: alipay.TradeSuccess, TradeNo: "2026", Amount: 100, Source: ledger.SourceWatch}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.PinSeller(ctx, "2088000000000007"); err != nil {
				t.Fatal(err)
			}
			l.Close()

			withHook := with(with(vars, "AP_PAID_WEBHOOK", "http://127.0.0.1:1/hooks/"+hookToken), "AP_PAID_WEBHOOK_SECRET", hookSecret)
			doctor(withHook, "this app's orders in sandbox: 2", "✓ 卖家 / seller: 2088000000000007", "pinned by the first notification",
				"! 付款 webhook / paid webhook http://127.0.0.1:1/***", "notifications not yet delivered: 1", "tried 0 times")
			doctor(with(vars, "AP_SELLER_ID", "2088000000000001"), "! 卖家 / seller", "the ledger pinned 2088000000000007",
				"AP_SELLER_ID is 2088000000000001, which is what counts")
		})
	}
}
