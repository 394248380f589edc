package paidhook

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"
)

// TestBotTextHostileSubject: whatever the order title (the subject) and
// trade number hold, each bot's message has no line, link, emphasis, HTML
// or invisible character of theirs.
func TestBotTextHostileSubject(t *testing.T) {
	hostile := []struct{ name, text string }{
		{"markdown link", "[点击领取退款 / Refund](https://evil.example/r)"},
		{"bold", "**已退款 / refunded**"},
		{"strike", "~~¥12.36~~ ¥0.01"},
		{"html", `<a href="https://evil.example">x</a><img src=x>`},
		{"bare url", "see https://evil.example/r"},
		{"line break", "插画\n订单已支付 / Order paid: FAKE ¥9999"},
		{"U+2028", "插画\u2028订单已支付 / Order paid: FAKE ¥9999"},
		{"bidi", "插画 \u202e10.0¥\u202c \u2066x\u2069"},
		{"zero-width", "P\u200ba\u200cy\u200d\u2060\ufeff"},
	}
	bots := []struct{ name, url string }{
		{"dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=dt-token-1"},
		{"wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"},
		{"feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/fs-hook-1"},
	}
	for _, bot := range bots {
		for _, h := range hostile {
			t.Run(bot.name+"/"+h.name, func(t *testing.T) {
				ev := testEvent(3)
				ev.Subject = h.text
				ev.TradeNo = h.text
				req, err := mustTarget(t, bot.url, "").request(context.Background(), ev, 1, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(req.Body)
				var m struct {
					Text    struct{ Content string } `json:"text"`
					Content struct{ Text string }    `json:"content"`
				}
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				text := m.Text.Content + m.Content.Text
				if !strings.HasPrefix(text, "订单已支付 / Order paid: T202611290003 ¥12.37\n商品 / Subject: ") {
					t.Fatalf("message starts %q", text)
				}
				if n := strings.Count(text, "\n"); n != 5 {
					t.Errorf("%d line breaks, want 5 (order, subject, trade number, paid at, environment, event):\n%s", n, text)
				}
				for _, r := range text {
					if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp)) {
						t.Errorf("message holds %U:\n%q", r, text)
					}
				}
				for _, bad := range []string{"](", "**", "~~", "<", "://", "evil.example", "\n订单已支付"} {
					if strings.Contains(text, bad) {
						t.Errorf("message holds %q:\n%s", bad, text)
					}
				}
			})
		}
	}
}
