package alipay

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

func linkClient(t testing.TB, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		AppID:           "2021000122671080",
		PrivateKey:      appKey(t),
		AlipayPublicKey: testAlipayPublic(t),
		GatewayURL:      SandboxGateway,
		Now:             func() time.Time { return fixedNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parseLink splits a payment link into its gateway and single-valued
// parameters, and checks its signature with the app public key.
func parseLink(t *testing.T, link string) (string, map[string]string, map[string]any) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	p, err := FlattenForm(u.Query())
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(&appKey(t).PublicKey, RSA2, []byte(SignContent(p)), p["sign"]); err != nil {
		t.Fatalf("link signature does not verify with the app public key: %v", err)
	}
	var biz map[string]any
	if err := json.Unmarshal([]byte(p["biz_content"]), &biz); err != nil {
		t.Fatal(err)
	}
	u.RawQuery = ""
	return u.String(), p, biz
}

func TestPaymentLinks(t *testing.T) {
	req := PayRequest{OutTradeNo: "T20240101001", TotalAmount: 1999, Subject: "测试 <商品> & 服务"}
	for _, tc := range []struct {
		name        string
		wap         bool
		cfg         func(*Config)
		mod         func(*PayRequest)
		wantParams  map[string]string // "" = must be absent
		wantBiz     map[string]any    // nil value = must be absent
		method, pro string
	}{
		{name: "page, minimal", method: MethodPagePay, pro: ProductPagePay,
			wantParams: map[string]string{"return_url": "", "notify_url": ""},
			wantBiz:    map[string]any{"quit_url": nil, "timeout_express": nil, "time_expire": nil}},
		{name: "page, urls from config", method: MethodPagePay, pro: ProductPagePay,
			cfg: func(c *Config) {
				c.ReturnURL = "https://shop.example/return"
				c.NotifyURL = "https://shop.example/notify"
			},
			wantParams: map[string]string{"return_url": "https://shop.example/return", "notify_url": "https://shop.example/notify"}},
		{name: "page, request overrides config, quit_url dropped", method: MethodPagePay, pro: ProductPagePay,
			cfg: func(c *Config) { c.ReturnURL = "https://shop.example/return" },
			mod: func(r *PayRequest) {
				r.ReturnURL = "https://shop.example/r2?x=1"
				r.QuitURL = "https://shop.example/quit"
				r.TimeoutExpress = "30m"
			},
			wantParams: map[string]string{"return_url": "https://shop.example/r2?x=1"},
			wantBiz:    map[string]any{"quit_url": nil, "timeout_express": "30m"}},
		{name: "wap, quit_url and time_expire", wap: true, method: MethodWapPay, pro: ProductWapPay,
			mod: func(r *PayRequest) {
				r.QuitURL = "https://shop.example/quit"
				r.TimeExpire = "2024-01-01 12:30:00"
				r.NotifyURL = "http://127.0.0.1:8080/notify"
			},
			wantParams: map[string]string{"notify_url": "http://127.0.0.1:8080/notify", "return_url": ""},
			wantBiz:    map[string]any{"quit_url": "https://shop.example/quit", "time_expire": "2024-01-01 12:30:00", "timeout_express": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := linkClient(t, tc.cfg)
			r := req
			if tc.mod != nil {
				tc.mod(&r)
			}
			var link string
			var err error
			if tc.wap {
				link, err = c.WapPayURL(r)
			} else {
				link, err = c.PagePayURL(r)
			}
			if err != nil {
				t.Fatal(err)
			}
			gw, p, biz := parseLink(t, link)
			if gw != SandboxGateway {
				t.Errorf("gateway %s", gw)
			}
			for k, want := range map[string]string{"method": tc.method, "app_id": "2021000122671080", "charset": "utf-8",
				"sign_type": "RSA2", "version": "1.0", "timestamp": "2024-01-01 12:00:00"} {
				if p[k] != want {
					t.Errorf("%s = %q, want %q", k, p[k], want)
				}
			}
			for k, want := range tc.wantParams {
				if got, ok := p[k]; want == "" && ok || got != want {
					t.Errorf("param %s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			if biz["product_code"] != tc.pro || biz["out_trade_no"] != "T20240101001" || biz["subject"] != "测试 <商品> & 服务" {
				t.Errorf("biz %v", biz)
			}
			if !strings.Contains(p["biz_content"], `"total_amount":"19.99"`) {
				t.Errorf("total_amount is not the string \"19.99\": %s", p["biz_content"])
			}
			if !strings.Contains(p["biz_content"], "<商品> & 服务") {
				t.Errorf("subject was HTML-escaped: %s", p["biz_content"])
			}
			for k, want := range tc.wantBiz {
				if got, ok := biz[k]; want == nil && ok || want != nil && got != want {
					t.Errorf("biz %s = %v (present %v), want %v", k, got, ok, want)
				}
			}
		})
	}
}

func TestPaymentLinkRefused(t *testing.T) {
	c := linkClient(t, nil)
	ok := PayRequest{OutTradeNo: "T1", TotalAmount: 1, Subject: "s"}
	for _, tc := range []struct {
		name, field string
		mod         func(*PayRequest)
	}{
		{"no out_trade_no", "out_trade_no", func(r *PayRequest) { r.OutTradeNo = "" }},
		{"bad out_trade_no", "out_trade_no", func(r *PayRequest) { r.OutTradeNo = "T 1" }},
		{"zero amount", "total_amount", func(r *PayRequest) { r.TotalAmount = 0 }},
		{"negative amount", "total_amount", func(r *PayRequest) { r.TotalAmount = -1 }},
		{"too much", "total_amount", func(r *PayRequest) { r.TotalAmount = MaxAmount + 1 }},
		{"no subject", "subject", func(r *PayRequest) { r.Subject = "  " }},
		{"long subject", "subject", func(r *PayRequest) { r.Subject = strings.Repeat("长", 257) }},
		{"timeout 1.5h", "timeout_express", func(r *PayRequest) { r.TimeoutExpress = "1.5h" }},
		{"timeout 16d", "timeout_express", func(r *PayRequest) { r.TimeoutExpress = "16d" }},
		{"timeout 0m", "timeout_express", func(r *PayRequest) { r.TimeoutExpress = "0m" }},
		{"timeout 30", "timeout_express", func(r *PayRequest) { r.TimeoutExpress = "30" }},
		{"time_expire ISO", "time_expire", func(r *PayRequest) { r.TimeExpire = "2024-01-01T13:00:00Z" }},
		{"time_expire past", "time_expire", func(r *PayRequest) { r.TimeExpire = "2024-01-01 11:59:59" }},
		{"return_url relative", "return_url", func(r *PayRequest) { r.ReturnURL = "/return" }},
		{"notify_url javascript", "notify_url", func(r *PayRequest) { r.NotifyURL = "javascript:alert(1)" }},
		{"quit_url too long", "quit_url", func(r *PayRequest) { r.QuitURL = "https://a.example/" + strings.Repeat("x", 250) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.mod(&r)
			_, err := c.WapPayURL(r)
			if err == nil || !strings.HasPrefix(err.Error(), tc.field) || !hasHan(err.Error()) {
				t.Fatalf("want an error naming %s in Chinese and English, got %v", tc.field, err)
			}
		})
	}
	for _, good := range []string{"1m", "30m", "2h", "15d", "1c", "21600m", "360h"} {
		if err := CheckTimeoutExpress(good); err != nil {
			t.Errorf("CheckTimeoutExpress(%q): %v", good, err)
		}
	}
}

func TestPaymentLinkGatewayWithQuery(t *testing.T) {
	c := linkClient(t, func(cfg *Config) { cfg.GatewayURL = "http://127.0.0.1:9/gateway.do?charset=utf-8" })
	link, err := c.PagePayURL(PayRequest{OutTradeNo: "T1", TotalAmount: 1, Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(u.Query()["charset"]); n != 1 {
		t.Fatalf("charset given %d times in %s", n, link)
	}
}
