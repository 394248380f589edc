package localalipay_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// payNew makes a page link for otn, opens and pays it, and returns the client.
func payNew(t *testing.T, srv *localalipay.Server, notifyURL, otn string, amount alipay.Amount) *alipay.Client {
	t.Helper()
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.NotifyURL = notifyURL })
	link, err := cl.PagePayURL(alipay.PayRequest{OutTradeNo: otn, TotalAmount: amount, Subject: "notify test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localalipay.PayLink(ctxT(t), link); err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestNotifyRetriesUntilSuccess(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	sink := newSink(t, func(n int) string {
		if n <= 2 {
			return "fail"
		}
		return "success"
	})
	payNew(t, srv, sink.URL, "NR1", 100)
	var ids []string
	for range 3 {
		ids = append(ids, sink.next(t).Get("notify_id"))
	}
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("notify_id must stay the same across retries: %v", ids)
	}
	sink.none(t, 300*time.Millisecond)
	// The sink has answered; the notifier records the answer after that.
	d := settledTrade(t, srv, "NR1")
	if len(d.Notifications) != 1 {
		t.Fatalf("notifications: %+v", d.Notifications)
	}
	n := d.Notifications[0]
	if n.State != "delivered" || n.Attempts != 3 || len(n.Log) != 3 || n.Log[0].OK || n.Log[1].OK || !n.Log[2].OK {
		t.Fatalf("notification record: %+v", n)
	}
	if n.Log[0].Response != "fail" {
		t.Errorf("attempt log keeps the answer: %+v", n.Log[0])
	}
}

func TestNotifyGivesUpAfterSchedule(t *testing.T) {
	srv := startServer(t, localalipay.Options{NotifySchedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}})
	sink := newSink(t, func(int) string { return "success\n" }) // not exactly "success"
	payNew(t, srv, sink.URL, "NG1", 100)
	for range 3 {
		sink.next(t)
	}
	sink.none(t, 200*time.Millisecond)
	d := settledTrade(t, srv, "NG1")
	if n := d.Notifications[0]; n.State != "failed" || n.Attempts != 3 {
		t.Fatalf("after the schedule: %+v", n)
	}
	// A resend starts again with the same notify_id.
	if err := srv.ResendNotification(ctxT(t), d.Notifications[0].NotifyID); err != nil {
		t.Fatal(err)
	}
	if got := sink.next(t).Get("notify_id"); got != d.Notifications[0].NotifyID {
		t.Fatalf("resend notify_id %q", got)
	}
}

func TestRestartKeepsKeysTradesAndPendingNotifications(t *testing.T) {
	dir := newDataDir(t)
	var ok atomic.Bool
	sink := newSink(t, func(int) string {
		if ok.Load() {
			return "success"
		}
		return "fail"
	})
	schedule := []time.Duration{300 * time.Millisecond}
	a, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: dir, NotifySchedule: schedule})
	if err != nil {
		t.Fatal(err)
	}
	credsA := a.Credentials()
	payNew(t, a, sink.URL, "RS1", 4200)
	first := sink.next(t).Get("notify_id")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ok.Store(true)

	b := startServer(t, localalipay.Options{DataDir: dir, NotifySchedule: schedule})
	credsB := b.Credentials()
	if credsA.AppID != credsB.AppID || credsA.AppPrivateKey != credsB.AppPrivateKey || credsA.AlipayPublicKey != credsB.AlipayPublicKey {
		t.Fatal("keys changed across a restart")
	}
	if got := sink.next(t).Get("notify_id"); got != first {
		t.Fatalf("after restart got notify_id %q, want %q", got, first)
	}
	q, err := newClient(t, credsB, nil).Query(ctxT(t), "RS1")
	if err != nil || q.TradeStatus != "TRADE_SUCCESS" || q.TotalAmount != "42.00" {
		t.Fatalf("trade after restart: %+v %v", q, err)
	}
	waitFor(t, func() bool {
		d, err := b.Trade(ctxT(t), "RS1")
		return err == nil && d.Notifications[0].State == "delivered"
	})
}

func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "local")
	s := startServer(t, localalipay.Options{DataDir: dir})
	if s.Credentials().AppID[:6] != localalipay.AppIDPrefix {
		t.Errorf("app id %q", s.Credentials().AppID)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "identity.json"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}

// settledTrade returns the trade once no notification of it is pending:
// each delivered or failed, with every attempt recorded.
func settledTrade(t *testing.T, srv *localalipay.Server, no string) *localalipay.TradeDetail {
	t.Helper()
	var d *localalipay.TradeDetail
	waitFor(t, func() bool {
		var err error
		if d, err = srv.Trade(ctxT(t), no); err != nil {
			t.Fatal(err)
		}
		for _, n := range d.Notifications {
			if n.State != "delivered" && n.State != "failed" || len(n.Log) != n.Attempts {
				return false
			}
		}
		return len(d.Notifications) > 0
	})
	return d
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
