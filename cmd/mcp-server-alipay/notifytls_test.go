package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// In local mode with --tls-cert and --tls-key the automatic notify_url is
// https://127.0.0.1:port/alipay/notify, and the local Alipay posts there
// trusting exactly the serving certificate: a self-signed one for the
// loopback address, or a platform's for its own name (which names no
// 127.0.0.1). Its first attempt is answered "success", the receiver counts a
// verified notification, the ledger holds it and the subscriber hears of
// the payment.
func TestHTTPLocalNotificationsOverTLS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dns        []string
		ips        []net.IP
		serverName string
	}{
		{"self-signed for 127.0.0.1", nil, []net.IP{net.ParseIP("127.0.0.1")}, ""},
		{"a platform's certificate for its own name", []string{"mcp.platform.example"}, nil, "mcp.platform.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certFile, keyFile, der := selfSignedCert(t, tc.dns, tc.ips)
			e := newEnv(t, nil)
			s := startHTTP(t, e, "--tls-cert", certFile, "--tls-key", keyFile)
			if !strings.HasPrefix(s.url, "https://") {
				t.Fatalf("not serving HTTPS: %s", s.url)
			}
			pool := x509.NewCertPool()
			pool.AddCert(must(x509.ParseCertificate(der)))
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: tc.serverName}}}

			updated := make(chan string, 10)
			c := mcp.NewClient(&mcp.Implementation{Name: "notify-tls-test", Version: "1"}, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, r *mcp.ResourceUpdatedNotificationRequest) { updated <- r.Params.URI }})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.url, HTTPClient: hc},
				&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				t.Fatalf("connect: %v\n%s", err, s.stderr.String())
			}
			defer cs.Close()
			no := orderNo("TLSNOTIFY")
			link := webLink(ctx, t, cs, no, "8.88", "t")
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: tools.TradeURI(no)}); err != nil {
				t.Fatal(err)
			}
			payAwaitUpdate(ctx, t, link, no, updated)

			// The local Alipay's own record: its first POST to the https
			// notify_url got "success" (without the trust, every attempt
			// fails on the certificate and the payment arrives only by
			// polling).
			u := must(url.Parse(link))
			var n localalipay.NotificationInfo
			deadline := time.Now().Add(20 * time.Second)
			for {
				var d localalipay.TradeDetail
				getJSON(t, http.DefaultClient, u.Scheme+"://"+u.Host+"/_local/trades/"+no, &d)
				if len(d.Notifications) > 0 && len(d.Notifications[0].Log) > 0 {
					n = d.Notifications[0]
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the local Alipay made no notification attempt: %+v\n%s", d, s.stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if first := n.Log[0]; !first.OK || first.Response != "success" || !strings.HasPrefix(n.URL, "https://127.0.0.1:") {
				t.Errorf("first attempt to %s: %+v\n%s", n.URL, first, s.stderr.String())
			}

			// The receiver counted it verified; the ledger holds it.
			deadline = time.Now().Add(20 * time.Second)
			var m string
			for {
				resp, err := hc.Get(strings.TrimSuffix(s.url, "/mcp") + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if m = string(b); strings.Contains(m, `alipay_notifications_total{result="verified"} 1`+"\n") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no verified notification counted:\n%s", m)
				}
				time.Sleep(20 * time.Millisecond)
			}
			led, err := ledger.Open(ctx, ledger.Options{Path: filepath.Join(e.home, ".local", "share", "mcp-server-alipay", "ledger.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer led.Close()
			ns, err := led.Account(u.Query().Get("app_id"), "local").Notifications(ctx, no)
			if err != nil {
				t.Fatal(err)
			}
			if len(ns) != 1 || !ns[0].Verified || ns[0].NotifyID != n.NotifyID || ns[0].Params["trade_status"] != "TRADE_SUCCESS" {
				t.Errorf("ledger notifications of %s: %+v", no, ns)
			}
		})
	}
}

func getJSON(t *testing.T, hc *http.Client, u string, v any) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}
