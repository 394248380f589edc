package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// AP_SELLER_ID reaches the receiver: with another merchant's seller id the
// local Alipay's notification (which names its own seller) is answered
// "fail" and counted rejected; with its own it is answered "success".
func TestHTTPSellerID(t *testing.T) {
	gw, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: t.TempDir(),
		NotifySchedule: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	for _, tc := range []struct {
		name, seller, answer, metric string
	}{
		{"another merchant's", "2088000000000001", "fail", `alipay_notifications_total{result="rejected"} 1`},
		{"the gateway's own", gw.Credentials().SellerID, "success", `alipay_notifications_total{result="verified"} 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeLoopbackAddr(t)
			vars := gatewayEnv(gw)
			vars["AP_SELLER_ID"] = tc.seller
			vars["AP_NOTIFY_URL"] = "http://" + addr + "/alipay/notify"
			s := startHTTP(t, newEnv(t, vars), "--listen", addr)
			cs := s.goClient(t, "", "")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			no := orderNo("SELLER")
			if _, err := localalipay.PayLink(ctx, webLink(ctx, t, cs, no, "1", "t")); err != nil {
				t.Fatal(err)
			}
			var got localalipay.AttemptInfo
			for deadline := time.Now().Add(20 * time.Second); ; {
				d, err := gw.Trade(ctx, no)
				if err != nil {
					t.Fatal(err)
				}
				if len(d.Notifications) > 0 && len(d.Notifications[0].Log) > 0 {
					got = d.Notifications[0].Log[0]
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no notification attempt\n%s", s.stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got.Response != tc.answer {
				t.Errorf("the receiver answered %+v, want %q", got, tc.answer)
			}
			resp, err := http.Get(strings.TrimSuffix(s.url, "/mcp") + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), tc.metric+"\n") {
				t.Errorf("metrics lack %s:\n%s", tc.metric, b)
			}
		})
	}
}

// In local mode the expected seller is the local Alipay's, not a pin: a
// notification of another seller is refused even as the first one.
func TestLocalSellerIsExpected(t *testing.T) {
	b, err := newBackend(context.Background(), &config.Config{Env: config.Local, LocalDataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if want := b.local.Credentials().SellerID; b.sellerID != want || !config.ValidSellerID(want) {
		t.Errorf("seller expected in local mode %q, want the local Alipay's %q", b.sellerID, want)
	}
	// Elsewhere it is AP_SELLER_ID, and "" (pin the first) without it.
	lc, err := b.local.Credentials().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, seller := range []string{"2088000000000001", ""} {
		b2, err := newBackend(context.Background(), &config.Config{Env: config.Sandbox, AppID: lc.AppID, SellerID: seller,
			PrivateKey: lc.PrivateKey, AlipayPublicKey: lc.AlipayPublicKey, GatewayURL: lc.GatewayURL}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if b2.sellerID != seller {
			t.Errorf("seller expected with AP_SELLER_ID=%q: %q", seller, b2.sellerID)
		}
		b2.Close()
	}
}

// With AP_INVOKE_AUTH_TOKEN set the app calls Alipay for a merchant, whose
// notifications name the merchant's app as auth_app_id: the receiver takes
// them. A self-use app (no token) refuses the same notification, since
// its auth_app_id is not the app's own.
func TestHTTPServiceProviderNotification(t *testing.T) {
	app, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	gateway, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	appPriv, _ := alipay.EncodePrivateKeyPKCS8(app)
	gwPub, _ := alipay.EncodePublicKey(&gateway.PublicKey)
	const appID, merchantApp, seller = "2021000000000001", "2021009999999999", "2088000000000001"
	for _, tc := range []struct {
		name, token, answer string
	}{
		{"service provider", "merchant-token-for-test", "success"},
		{"self-use app", "", "fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeLoopbackAddr(t)
			vars := map[string]string{"AP_CURRENT_ENV": "sandbox", "AP_APP_ID": appID, "AP_APP_KEY": appPriv, "AP_PUB_KEY": gwPub,
				"AP_SELLER_ID": seller, "AP_NOTIFY_URL": "http://" + addr + "/alipay/notify", "AP_WATCH_PAYMENTS": "false"}
			if tc.token != "" {
				vars["AP_INVOKE_AUTH_TOKEN"] = tc.token
			}
			s := startHTTP(t, newEnv(t, vars), "--listen", addr)
			cs := s.goClient(t, "", "")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			no := orderNo("ISV")
			webLink(ctx, t, cs, no, "1", "t")
			p := map[string]string{
				"notify_id": "isv-" + no, "notify_type": "trade_status_sync", "notify_time": "2026-11-30 10:00:00",
				"charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
				"app_id": appID, "auth_app_id": merchantApp, "seller_id": seller,
				"out_trade_no": no, "trade_no": "2026113022001400000000000001", "trade_status": "TRADE_SUCCESS",
				"total_amount": "1.00", "gmt_payment": "2026-11-30 09:59:59",
			}
			form, err := alipay.SignNotification(gateway, alipay.RSA2, p)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.PostForm("http://"+addr+"/alipay/notify", form)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := strings.TrimSpace(string(b)); got != tc.answer {
				t.Fatalf("receiver answered %q, want %q\n%s", got, tc.answer, s.stderr.String())
			}
			if strings.Contains(s.stderr.String(), tc.token) && tc.token != "" {
				t.Errorf("the merchant's app_auth_token reached the log")
			}
		})
	}
}
