package paidhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestGenericDelivery: a signed JSON event reaches a plain endpoint, whose
// receiver verifies the signature from the README's recipe, and the
// outbox row is marked delivered after one attempt.
func TestGenericDelivery(t *testing.T) {
	rc := &receiver{check: verifyGeneric(testSecret), respond: func(_ int, w http.ResponseWriter, d delivery) { answerGeneric(w, d) }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ob := newOutbox(t)
	ev := testEvent(1)
	ob.add(t, ev)
	s := mustSender(t, ob, fastOptions(mustTarget(t, srv.URL+"/hooks/alipay-paid", testSecret)))
	runSender(t, s)
	waitFor(t, "delivery", func() bool { return ob.row(t, ev.ID).Delivered })

	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	d := got[0]
	if d.Problem != "" || d.EventID != ev.ID || d.Attempt != "1" {
		t.Fatalf("delivery %+v, want a verified first attempt of %s", d, ev.ID)
	}
	var p map[string]string
	if err := json.Unmarshal(d.Body, &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"id": ev.ID, "type": "order.paid", "out_trade_no": "T202611290001", "trade_no": "20261129220014000001",
		"subject": "插画定制 / custom illustration",
		"amount":  "12.35", "currency": "CNY", "paid_at": "2026-11-29T22:03:04+08:00", "env": "local", "app_id": "2021000000000001",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("body has fields %v, want exactly %v", p, want)
	}
	// Verify, the function the README documents, agrees with the receiver.
	if err := Verify(testSecret, Sign(testSecret, time.Now(), d.Body), d.Body, time.Now(), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestBotDeliveries: each group bot gets its own text format, and its
// signature when a secret is set, checked as the bot checks it; the real
// bot URLs are used, so their detection runs too.
func TestBotDeliveries(t *testing.T) {
	tests := []struct {
		name, url, secret string
		check             func(*http.Request, []byte) delivery
		answer            func(http.ResponseWriter, delivery)
	}{
		{"dingtalk signed", "http://oapi.dingtalk.com/robot/send?access_token=dt-token-1", "SEC0f1e2d3c4b5a69788796a5b4c3d2e1f0",
			verifyDingTalk("dt-token-1", "SEC0f1e2d3c4b5a69788796a5b4c3d2e1f0"), func(w http.ResponseWriter, d delivery) { answerErrcode(w, d, 310000) }},
		{"dingtalk unsigned", "http://oapi.dingtalk.com/robot/send?access_token=dt-token-2", "",
			verifyDingTalk("dt-token-2", ""), func(w http.ResponseWriter, d delivery) { answerErrcode(w, d, 310000) }},
		{"wecom", "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa", "",
			verifyWeCom("693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"), func(w http.ResponseWriter, d delivery) { answerErrcode(w, d, 93000) }},
		{"feishu signed", "http://open.feishu.cn/open-apis/bot/v2/hook/fs-hook-1", "nIMtb7r3N9pkXyXdtAbx6e",
			verifyFeishu("fs-hook-1", "nIMtb7r3N9pkXyXdtAbx6e"), answerFeishu},
		{"lark unsigned", "http://open.larksuite.com/open-apis/bot/v2/hook/lark-hook-2", "",
			verifyFeishu("lark-hook-2", ""), answerFeishu},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{check: tt.check, respond: func(_ int, w http.ResponseWriter, d delivery) { tt.answer(w, d) }}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			ob := newOutbox(t)
			ev := testEvent(2)
			ob.add(t, ev)
			opts := fastOptions(mustTarget(t, tt.url, tt.secret))
			opts.Client = dialTo(srv)
			runSender(t, mustSender(t, ob, opts))
			waitFor(t, "delivery", func() bool { return ob.row(t, ev.ID).Delivered })
			got := rc.deliveries()
			if len(got) != 1 || got[0].Problem != "" {
				t.Fatalf("deliveries %+v, want one that passes the bot's checks", got)
			}
			text := got[0].Text
			if !strings.HasPrefix(text, "订单已支付 / Order paid: T202611290002 ¥12.36\n") {
				t.Errorf("text starts %q", text)
			}
			for _, w := range []string{"\n商品 / Subject: 插画定制 / custom illustration\n", "20261129220014000002", "2026-11-29 22:03:04 (北京时间 / Beijing time)", "local · app 2021000000000001", ev.ID} {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestBotWrongSecretIsAFailure: a bot that refuses the signature answers
// HTTP 200 with a non-zero code; that is a failed delivery, retried, with
// the bot's code recorded.
func TestBotWrongSecretIsAFailure(t *testing.T) {
	tests := []struct {
		name, url string
		check     func(*http.Request, []byte) delivery
		answer    func(http.ResponseWriter, delivery)
		wantCode  string
	}{
		{"dingtalk", "http://oapi.dingtalk.com/robot/send?access_token=dt-token-3", verifyDingTalk("dt-token-3", "SECthe-bots-real-secret"),
			func(w http.ResponseWriter, d delivery) { answerErrcode(w, d, 310000) }, "310000"},
		{"feishu", "http://open.feishu.cn/open-apis/bot/v2/hook/fs-hook-3", verifyFeishu("fs-hook-3", "the-bots-real-secret"), answerFeishu, "19021"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{check: tt.check, respond: func(_ int, w http.ResponseWriter, d delivery) { tt.answer(w, d) }}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			ob := newOutbox(t)
			ev := testEvent(3)
			ob.add(t, ev)
			opts := fastOptions(mustTarget(t, tt.url, "SECa-wrong-secret"))
			opts.Client = dialTo(srv)
			stop := runSender(t, mustSender(t, ob, opts))
			waitFor(t, "two refused attempts", func() bool { return ob.row(t, ev.ID).Attempts >= 2 })
			stop()
			r := ob.row(t, ev.ID)
			if r.Delivered {
				t.Fatal("a refused message was recorded as delivered")
			}
			if !strings.Contains(r.LastError, tt.wantCode) {
				t.Errorf("last error %q lacks the bot's code %s", r.LastError, tt.wantCode)
			}
		})
	}
}

// TestRetries: a 500, a timeout, a bot's non-zero errcode and a 429 are
// each retried, with backoff, under the same event id, until the receiver
// takes the event; the attempts are counted in the outbox.
func TestRetries(t *testing.T) {
	t.Run("generic", func(t *testing.T) {
		release := make(chan struct{})
		rc := &receiver{check: verifyGeneric(testSecret)}
		rc.respond = func(n int, w http.ResponseWriter, d delivery) {
			switch n {
			case 1:
				http.Error(w, "boom", http.StatusInternalServerError)
			case 2:
				<-release // longer than the sender's timeout
			case 3:
				w.Header().Set("Retry-After", "0")
				http.Error(w, "slow down", http.StatusTooManyRequests)
			default:
				answerGeneric(w, d)
			}
		}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		defer close(release)
		ob := newOutbox(t)
		ev := testEvent(4)
		ob.add(t, ev)
		opts := fastOptions(mustTarget(t, srv.URL, testSecret))
		opts.Timeout = time.Second // room for a loaded machine; the held request outlasts it
		var logs logBuffer
		opts.Logger = logs.logger()
		runSender(t, mustSender(t, ob, opts))
		waitFor(t, "delivery", func() bool { return ob.row(t, ev.ID).Delivered })
		got := rc.deliveries()
		if len(got) != 4 {
			t.Fatalf("%d requests, want 4", len(got))
		}
		for i, d := range got {
			if d.EventID != ev.ID || d.Problem != "" || d.Attempt != string(rune('1'+i)) {
				t.Errorf("request %d: %+v, want attempt %d of %s, verified", i+1, d, i+1, ev.ID)
			}
			if string(d.Body) != string(got[0].Body) {
				t.Errorf("request %d body differs from the first", i+1)
			}
		}
		if r := ob.row(t, ev.ID); r.Attempts != 3 {
			t.Errorf("outbox attempts %d, want the 3 failures", r.Attempts)
		}
		for _, w := range []string{"HTTP 500", "did not answer within 1s", "HTTP 429"} {
			if !strings.Contains(logs.String(), w) {
				t.Errorf("log lacks %q:\n%s", w, logs.String())
			}
		}
	})
	t.Run("wecom errcode", func(t *testing.T) {
		rc := &receiver{check: verifyWeCom("k-1")}
		rc.respond = func(n int, w http.ResponseWriter, d delivery) {
			if n == 1 {
				// HTTP 200, but refused (45009 is WeChat's "api freq out of limit").
				w.Write([]byte(`{"errcode":45009,"errmsg":"api freq out of limit"}`))
				return
			}
			answerErrcode(w, d, 93000)
		}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		ob := newOutbox(t)
		ev := testEvent(5)
		ob.add(t, ev)
		opts := fastOptions(mustTarget(t, "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1", ""))
		opts.Client = dialTo(srv)
		runSender(t, mustSender(t, ob, opts))
		waitFor(t, "delivery", func() bool { return ob.row(t, ev.ID).Delivered })
		got := rc.deliveries()
		if len(got) != 2 || got[0].EventID != ev.ID || got[1].EventID != ev.ID {
			t.Fatalf("deliveries %+v, want two of %s", got, ev.ID)
		}
		if r := ob.row(t, ev.ID); r.Attempts != 1 || !strings.Contains(r.LastError, "45009") {
			t.Errorf("row %+v, want one failure with code 45009", r)
		}
	})
}

// TestNoSecretInLogsOrOutbox: the secret, the bot's token and the
// request's sign never reach the log or the outbox's last_error, even when
// the receiver echoes the request back and when the network fails.
func TestNoSecretInLogsOrOutbox(t *testing.T) {
	const token, secret = "tok-must-not-leak", "SECsecret-must-not-leak"
	// The receiver refuses with the whole request echoed back.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		http.Error(w, "refused "+r.URL.String()+" "+string(body), http.StatusBadRequest)
	}))
	defer echo.Close()
	// A closed server: connection refused, which Go reports with the URL.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, u := range []string{
		"http://oapi.dingtalk.com/robot/send?access_token=" + token,
		"http://open.feishu.cn/open-apis/bot/v2/hook/" + token,
		"http://shop.example/hooks/" + token + "?token=" + token,
	} {
		for _, srv := range []*httptest.Server{echo, closed} {
			ob := newOutbox(t)
			ev := testEvent(6)
			ob.add(t, ev)
			var logs logBuffer
			opts := fastOptions(mustTarget(t, u, secret))
			opts.Client = dialTo(srv)
			opts.Logger = logs.logger()
			stop := runSender(t, mustSender(t, ob, opts))
			waitFor(t, "two failed attempts", func() bool { return ob.row(t, ev.ID).Attempts >= 2 })
			stop()
			out := logs.String() + "\n" + ob.row(t, ev.ID).LastError
			for _, leak := range []string{token, secret} {
				if strings.Contains(out, leak) {
					t.Errorf("%q leaked:\n%s", leak, out)
				}
			}
			if regexp.MustCompile(`sign=[^*]|"sign":"[^*]`).MatchString(out) {
				t.Errorf("a request's sign leaked:\n%s", out)
			}
			if !strings.Contains(out, "***") {
				t.Errorf("the redacted target is not named:\n%s", out)
			}
		}
	}
}

// countingOutbox counts Claim calls, to know when the sender is idle.
type countingOutbox struct {
	Outbox
	claims atomic.Int64
}

func (c *countingOutbox) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Event, error) {
	defer c.claims.Add(1)
	return c.Outbox.Claim(ctx, owner, n, lease)
}

// TestWakeSendsAtOnce: with a poll interval of an hour, an event queued
// after the sender went idle is sent at once when Wake is called.
func TestWakeSendsAtOnce(t *testing.T) {
	rc := &receiver{check: verifyGeneric(testSecret), respond: func(_ int, w http.ResponseWriter, d delivery) { answerGeneric(w, d) }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	db := newOutbox(t)
	ob := &countingOutbox{Outbox: db}
	opts := fastOptions(mustTarget(t, srv.URL, testSecret))
	opts.Poll = time.Hour
	s := mustSender(t, ob, opts)
	runSender(t, s)
	waitFor(t, "the first, empty claim", func() bool { return ob.claims.Load() >= 1 })
	ev := testEvent(7)
	db.add(t, ev)
	s.Wake()
	waitFor(t, "delivery after Wake", func() bool { return db.row(t, ev.ID).Delivered })
	if n := ob.claims.Load(); n != 2 {
		t.Errorf("%d claims, want 2 (start and wake)", n)
	}
}

// TestGracefulStop: stopping the sender mid-delivery lets the attempt
// finish and be recorded, and hands back the claimed events it had not
// tried yet without counting an attempt.
func TestGracefulStop(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 8)
	rc := &receiver{check: verifyGeneric(testSecret), received: arrived}
	rc.respond = func(n int, w http.ResponseWriter, d delivery) {
		if n == 1 {
			<-release
		}
		answerGeneric(w, d)
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ob := newOutbox(t)
	first, second := testEvent(8), testEvent(9)
	ob.add(t, first)
	ob.add(t, second)
	opts := fastOptions(mustTarget(t, srv.URL, testSecret))
	opts.Timeout = 10 * time.Second
	s := mustSender(t, ob, opts)
	stop := runSender(t, s)
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no request")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned with an attempt under way")
	case <-time.After(50 * time.Millisecond): // Run must still be in the attempt: no ordering relies on this
	}
	close(release)
	<-stopped
	if r := ob.row(t, first.ID); !r.Delivered {
		t.Errorf("the attempt under way at stop was not recorded: %+v", r)
	}
	r := ob.row(t, second.ID)
	if r.Delivered || r.Attempts != 0 || r.LeaseOwner != "" || r.NextAttempt.After(time.Now()) {
		t.Errorf("the untried event was not handed back: %+v", r)
	}
	if len(rc.deliveries()) != 1 {
		t.Errorf("%d requests after stop, want 1", len(rc.deliveries()))
	}
}

func TestBackoff(t *testing.T) {
	s := mustSender(t, newOutbox(t), Options{Target: mustTarget(t, "https://shop.example/h", testSecret), MinBackoff: time.Second, MaxBackoff: time.Minute})
	for _, tt := range []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 500 * time.Millisecond, time.Second},
		{2, 0, time.Second, 2 * time.Second},
		{4, 0, 4 * time.Second, 8 * time.Second},
		{7, 0, 30 * time.Second, time.Minute},
		{100, 0, 30 * time.Second, time.Minute},
		{1, 20 * time.Second, 20 * time.Second, 20 * time.Second},
		{1, time.Hour, time.Minute, time.Minute},
	} {
		for range 50 {
			if d := s.backoff(tt.attempt, tt.retryAfter); d < tt.lo || d > tt.hi {
				t.Errorf("backoff(%d, %s) = %s, want within [%s, %s]", tt.attempt, tt.retryAfter, d, tt.lo, tt.hi)
			}
		}
	}
}

// TestRetryWhenDue: with a poll interval of an hour, a failed attempt is
// retried when its backoff ends, by the sender's own timer.
func TestRetryWhenDue(t *testing.T) {
	rc := &receiver{check: verifyGeneric(testSecret)}
	rc.respond = func(n int, w http.ResponseWriter, d delivery) {
		if n == 1 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		answerGeneric(w, d)
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ob := newOutbox(t)
	ev := testEvent(13)
	ob.add(t, ev)
	opts := fastOptions(mustTarget(t, srv.URL, testSecret))
	opts.Poll = time.Hour
	runSender(t, mustSender(t, ob, opts))
	waitFor(t, "the retry delivered", func() bool { return ob.row(t, ev.ID).Delivered })
	if got := rc.deliveries(); len(got) != 2 || got[1].Attempt != "2" {
		t.Errorf("deliveries %+v, want a second attempt", got)
	}
}
