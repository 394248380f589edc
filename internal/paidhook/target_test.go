package paidhook

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, url, secret string
		kind              Kind
		shown             string // String()
		hidden            []string
	}{
		{"generic", "https://shop.example/hooks/t0ken-in-path?sig=q-secret", "0123456789abcdef0123", Generic,
			"https://shop.example/***?***", []string{"t0ken-in-path", "q-secret", "0123456789abcdef"}},
		{"generic root", "http://127.0.0.1:8080", "0123456789abcdef", Generic, "http://127.0.0.1:8080", nil},
		{"dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=dt-tok-42", "SECdeadbeef", DingTalk,
			"https://oapi.dingtalk.com/robot/send?access_token=***", []string{"dt-tok-42", "SECdeadbeef"}},
		{"dingtalk unsigned", "https://oapi.dingtalk.com/robot/send?access_token=dt-tok-42", "", DingTalk,
			"https://oapi.dingtalk.com/robot/send?access_token=***", []string{"dt-tok-42"}},
		{"wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx", "", WeCom,
			"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***", []string{"693a91f6-7xxx"}},
		{"feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/fs-hook-77", "fs-secret", Feishu,
			"https://open.feishu.cn/open-apis/bot/v2/hook/***", []string{"fs-hook-77", "fs-secret"}},
		{"lark", "https://open.larksuite.com/open-apis/bot/v2/hook/lark-hook-77", "", Feishu,
			"https://open.larksuite.com/open-apis/bot/v2/hook/***", []string{"lark-hook-77"}},
		// A look-alike host is a generic endpoint and needs a secret.
		{"not dingtalk", "https://oapi.dingtalk.com.evil.example/robot/send?access_token=x", "0123456789abcdef", Generic,
			"https://oapi.dingtalk.com.evil.example/***?***", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := ParseTarget(tt.url, tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			if tg.Kind() != tt.kind {
				t.Errorf("kind %s, want %s", tg.Kind(), tt.kind)
			}
			for _, s := range []string{tg.String(), fmt.Sprint(tg), fmt.Sprintf("%+v", tg), fmt.Sprintf("%#v", tg)} {
				if !strings.Contains(s, tt.shown) {
					t.Errorf("%q does not show %q", s, tt.shown)
				}
				for _, h := range tt.hidden {
					if strings.Contains(s, h) {
						t.Errorf("%q shows %q", s, h)
					}
				}
			}
			if tg.Signed() != (tt.secret != "") {
				t.Errorf("Signed = %t with secret %q", tg.Signed(), tt.secret)
			}
		})
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct {
		name, url, secret string
		want              []string
	}{
		{"empty", "", "", []string{"AP_PAID_WEBHOOK:", "not set"}},
		{"relative", "/hooks/paid", "0123456789abcdef", []string{"AP_PAID_WEBHOOK:", "absolute http(s) URL", "必须是"}},
		{"ftp", "ftp://shop.example/x", "0123456789abcdef", []string{"AP_PAID_WEBHOOK:", "absolute http(s) URL"}},
		{"userinfo", "https://user:pw-secret@shop.example/x", "0123456789abcdef", []string{"AP_PAID_WEBHOOK:", "user or password"}},
		{"no secret", "https://shop.example/x", "", []string{"AP_PAID_WEBHOOK_SECRET:", "required", "openssl rand -hex 32"}},
		{"short secret", "https://shop.example/x", "short-s3cret", []string{"AP_PAID_WEBHOOK_SECRET:", "12 characters", "at least 16"}},
		{"secret with space", "https://shop.example/x", "0123456789 abcdef", []string{"AP_PAID_WEBHOOK_SECRET:", "spaces"}},
		{"wecom secret", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1234", "SECx", []string{"AP_PAID_WEBHOOK_SECRET:", "WeCom", "unset"}},
		{"wecom without key", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "", []string{"AP_PAID_WEBHOOK:", "no key"}},
		{"dingtalk without token", "https://oapi.dingtalk.com/robot/send", "", []string{"AP_PAID_WEBHOOK:", "no access_token"}},
		{"too long", "https://shop.example/" + strings.Repeat("x", 2048), "0123456789abcdef", []string{"AP_PAID_WEBHOOK:", "at most 2048"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTarget(tt.url, tt.secret)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%v is not ErrConfig", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			for _, leak := range []string{"pw-secret", "short-s3cret", "k-1234", "SECx"} {
				if strings.Contains(msg, leak) {
					t.Errorf("%q leaks %q", msg, leak)
				}
			}
		})
	}
}
