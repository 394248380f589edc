package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nginxtest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// Two replicas behind Debian's nginx configured as docs/deploy.md says;
// replica a is killed with SIGKILL under traffic from clients of both eras.
// Every refund a call reports as made exists at Alipay (no false success),
// every client carries on through nginx: 2026-07-28 clients at once,
// session clients after opening a new session when theirs was on a; and no
// notification is lost: one that met the dead replica is delivered by the
// local Alipay's retry (same notify_id) to the survivor, and paid once.
func TestReplicasBehindNginx(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.Database(t)
	// The local Alipay retries a notification that was not answered
	// "success" after 200 ms, then 500 ms, 1 s, 2 s…
	gw, err := localalipay.Start(ctx, localalipay.Options{DataDir: t.TempDir(),
		NotifySchedule: []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	lb := nginxtest.New(t)
	start := func(name string) *httpServer {
		return startHTTP(t, newEnv(t, replicaVars(gw, dbURL, lb, name)))
	}
	a, b := start("a"), start("b")
	lb.Start(t, []nginxtest.Replica{{Name: "a", Addr: a.hostPort()}, {Name: "b", Addr: b.hostPort()}})
	endpoint := lb.URL + "/mcp"

	// /metrics and /readyz through nginx: this host reads them, any other
	// address gets 403 (the source 127.0.0.2 is not 127.0.0.1 to nginx).
	t.Run("metrics only from this host", func(t *testing.T) {
		from := func(ip string) *http.Client {
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
			return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		}
		for _, path := range []string{"/metrics", "/readyz"} {
			resp, err := from("127.0.0.1").Get(lb.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || (path == "/metrics" && !strings.Contains(string(body), "mcp_sessions ")) {
				t.Errorf("%s from 127.0.0.1: HTTP %d\n%s", path, resp.StatusCode, body)
			}
			resp, err = from("127.0.0.2").Get(lb.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s from 127.0.0.2: HTTP %d, want 403\n%s", path, resp.StatusCode, body)
			}
		}
	})

	// A payment reaches subscribers on both replicas, whichever replica the
	// notification landed on (PostgreSQL LISTEN/NOTIFY), without waiting for
	// the payment watch (which would first look after 2 s). The bound is
	// generous, for a loaded machine; the latency is logged, not asserted.
	t.Run("fan-out", func(t *testing.T) {
		var lat []time.Duration
		var subs []chan string
		var sessions []*mcp.ClientSession
		var first *mcp.ClientSession
		for _, r := range []*httpServer{a, b} {
			ch := make(chan string, 10)
			c := mcp.NewClient(&mcp.Implementation{Name: "fanout", Version: "1"}, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, n *mcp.ResourceUpdatedNotificationRequest) { ch <- n.Params.URI }})
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: r.url, HTTPClient: &http.Client{Transport: bearerTransport{httpToken}}},
				&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			subs = append(subs, ch)
			sessions = append(sessions, cs)
			if first == nil {
				first = cs
			}
		}
		for i := range 3 {
			no := fmt.Sprintf("FAN%d-%d", time.Now().UnixNano()%1e8, i)
			link := webLink(ctx, t, first, no, "1", "t")
			for _, cs := range sessions {
				if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: tools.TradeURI(no)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := localalipay.PayLink(ctx, link); err != nil {
				t.Fatal(err)
			}
			paid := time.Now()
			for r, ch := range subs {
				select {
				case uri := <-ch:
					if uri != tools.TradeURI(no) {
						t.Errorf("replica %d: update of %s", r, uri)
					}
					lat = append(lat, time.Since(paid))
				case <-time.After(10 * time.Second):
					t.Fatalf("replica %d: no resources/updated for %s within 10 s", r, no)
				}
			}
		}
		slices.Sort(lat)
		t.Logf("fan-out latency, payment to resources/updated on both replicas (%d updates): p50 %v, max %v", len(lat), lat[len(lat)/2], lat[len(lat)-1])
	})

	// Clients confirm every refund they are asked about; a 2026-07-28
	// client's answer comes in a second request, which round robin sends to
	// the other replica: AP_STATE_KEY lets it open the state the first sealed.
	confirm := &mcp.ClientOptions{ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
	}}
	connect := func(proto string) (*mcp.ClientSession, error) {
		c := mcp.NewClient(&mcp.Implementation{Name: "replica-test", Version: "1"}, confirm)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1,
			HTTPClient: &http.Client{Transport: bearerTransport{httpToken}}}, &mcp.ClientSessionOptions{ProtocolVersion: proto})
	}

	// Before the traffic: one 2026-07-28 client alone, so that round robin
	// alternates strictly and every answer reaches the replica that did not
	// ask.
	solo, err := connect("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		no := fmt.Sprintf("SOLO%d-%d", time.Now().UnixNano()%1e8, i)
		var mu sync.Mutex
		ok, err := payAndRefund(solo, no, &mu, func(string) {})
		if err != nil || !ok {
			t.Fatalf("confirmed refund %d across replicas: %v %v", i, ok, err)
		}
	}
	solo.Close()

	type claim struct{ no, req string }
	var (
		mu       sync.Mutex
		claimed  []claim // refunds reported as made
		killed   atomic.Bool
		onA      atomic.Int32 // session clients whose session was on a
		calls    atomic.Int32
		failures atomic.Int32
	)
	const clients, afterKill = 6, 6
	run := fmt.Sprintf("%d", time.Now().UnixNano()%1e8)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		proto := ""
		if i%2 == 1 {
			proto = "2025-11-25"
		}
		wg.Go(func() {
			cs, err := connect(proto)
			if err != nil {
				errs <- fmt.Errorf("client %d connect: %v", i, err)
				return
			}
			defer func() {
				if cs != nil {
					cs.Close()
				}
			}()
			// The first session client makes sure its session is on a, the
			// replica to be killed, so the path of a lost session is taken.
			for try := 0; i == 1 && !strings.HasPrefix(cs.ID(), "a.") && try < 10; try++ {
				cs.Close()
				if cs, err = connect(proto); err != nil {
					errs <- fmt.Errorf("client %d connect: %v", i, err)
					return
				}
			}
			if strings.HasPrefix(cs.ID(), "a.") {
				onA.Add(1)
			}
			okAfterKill := 0
			for n := 0; okAfterKill < afterKill; n++ {
				if n > 100 {
					errs <- fmt.Errorf("client %d (%q): no progress after the kill", i, proto)
					return
				}
				wasKilled := killed.Load()
				no := fmt.Sprintf("R%s-%d-%d", run, i, n)
				ok, err := payAndRefund(cs, no, &mu, func(req string) {
					claimed = append(claimed, claim{no, req})
				})
				calls.Add(1)
				if err != nil {
					if failures.Add(1) < 12 {
						t.Logf("client %d (%q) call %d: %v", i, proto, n, err)
					}
					if !killed.Load() {
						errs <- fmt.Errorf("client %d: failure before the kill: %v", i, err)
						return
					}
					// Back off as a client should: Retry-After (1 s) on 429,
					// a moment otherwise.
					if strings.Contains(err.Error(), "Too Many Requests") {
						time.Sleep(time.Second)
					} else {
						time.Sleep(50 * time.Millisecond)
					}
					// The session's replica is gone (404): open a new one.
					if proto != "" {
						cs.Close()
						if cs, err = connect(proto); err != nil {
							errs <- fmt.Errorf("client %d reconnect: %v", i, err)
							return
						}
					}
					continue
				}
				if ok && wasKilled {
					okAfterKill++
				}
			}
		})
	}
	// Kill a once traffic flows through both replicas.
	deadline := time.Now().Add(time.Minute)
	for calls.Load() < 2*clients {
		if time.Now().After(deadline) {
			t.Fatalf("no traffic: %d calls\n%s", calls.Load(), lb.ErrorLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Marked before the signal, so no client sees the replica gone first.
	killed.Store(true)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// No notification lost: every order paid at Alipay has a verified
	// notification in the shared ledger, the ones posted to the killed
	// replica included (Alipay's retries land on the survivor).
	led, err := ledger.Open(ctx, ledger.Options{DatabaseURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	acct := led.Account(gw.Credentials().AppID, "sandbox")
	trades, err := gw.Trades(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	paidOrders := 0
	for _, tr := range trades {
		if tr.PaidAt == "" {
			continue
		}
		paidOrders++
		deadline := time.Now().Add(30 * time.Second)
		for {
			ns, err := acct.Notifications(ctx, tr.OutTradeNo)
			if err != nil {
				t.Fatal(err)
			}
			verified := false
			for _, n := range ns {
				verified = verified || n.Verified
			}
			if verified {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("order %s was paid, but no verified notification reached a replica", tr.OutTradeNo)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Alipay's retries land on the survivor. nginx passes a notification to
	// one replica only (proxy_next_upstream off), so one that met the killed
	// replica was answered 502 and the local Alipay sent the same notify_id
	// again. If the traffic made none, notifications of orders made on b
	// are paid until round robin hands one to a (nginx tries it again once
	// its fail_timeout of 5 s has passed).
	retried := retriedNotifications(t, ctx, gw, trades)
	fromTraffic := len(retried)
	if len(retried) == 0 {
		cs := b.goClient(t, "", httpToken)
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; len(retried) == 0; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("no notification met the killed replica in %d payments\n%s", i, lb.ErrorLog())
			}
			// Paced well under the token's rate limit (50 a second).
			time.Sleep(100 * time.Millisecond)
			no := fmt.Sprintf("RETRY%s-%d", run, i)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWebPagePay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","totalAmount":1,"orderTitle":"t"}`)})
			if err != nil && strings.Contains(err.Error(), "Too Many Requests") {
				time.Sleep(time.Second) // Retry-After
				continue
			}
			if err != nil || res.IsError {
				t.Fatalf("create on b: %v %v", err, res)
			}
			if _, err := localalipay.PayLink(ctx, res.StructuredContent.(map[string]any)["url"].(string)); err != nil {
				t.Fatal(err)
			}
			// Wait for the notification to be delivered, however many
			// attempts it took.
			for wait := time.Now().Add(20 * time.Second); ; {
				d, err := gw.Trade(ctx, no)
				if err != nil {
					t.Fatal(err)
				}
				if n := paymentNotification(d); n != nil && n.State != "pending" {
					if n.State != "delivered" {
						t.Fatalf("notification of %s: %+v", no, n)
					}
					retried = retriedNotifications(t, ctx, gw, []localalipay.TradeInfo{d.TradeInfo})
					break
				}
				if time.Now().After(wait) {
					t.Fatalf("notification of %s not delivered: %+v", no, d.Notifications)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	for no, n := range retried {
		// The ledger holds that notify_id once, verified, and the payment
		// once.
		var withID []ledger.Notification
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			ns, err := acct.Notifications(ctx, no)
			if err != nil {
				t.Fatal(err)
			}
			withID = withID[:0]
			for _, rn := range ns {
				if rn.NotifyID == n.NotifyID {
					withID = append(withID, rn)
				}
			}
			if len(withID) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(withID) != 1 || !withID[0].Verified {
			t.Errorf("%s: the ledger holds notify_id %s as %+v, want once, verified", no, n.NotifyID, withID)
		}
		hist, err := acct.History(ctx, no)
		if err != nil {
			t.Fatal(err)
		}
		paid := 0
		for _, h := range hist {
			if h.Status == "TRADE_SUCCESS" {
				paid++
			}
		}
		if paid != 1 {
			t.Errorf("%s: paid %d times in the ledger: %+v", no, paid, hist)
		}
	}

	// No false success: every refund reported as made is at Alipay.
	for _, c := range claimed {
		d, err := gw.Trade(ctx, c.no)
		if err != nil {
			t.Errorf("%s: %v", c.no, err)
			continue
		}
		found := false
		for _, r := range d.Refunds {
			found = found || r.OutRequestNo == c.req
		}
		if !found {
			t.Errorf("refund %s of %s reported as made, but Alipay has none", c.req, c.no)
		}
	}
	t.Logf("%d calls, %d failed around the kill, %d refunds verified, %d session clients were on a, %d paid orders all notified, %d notifications delivered by Alipay's retry after meeting the killed replica (%d of them under the traffic)",
		calls.Load(), failures.Load(), len(claimed), onA.Load(), paidOrders, len(retried), fromTraffic)
	if onA.Load() == 0 {
		t.Error("no session was on the killed replica")
	}
	if len(claimed) < clients*afterKill {
		t.Errorf("only %d refunds made", len(claimed))
	}
}

// payAndRefund creates a link through the replicas, pays it at Alipay, and
// refunds 0.01 through the replicas. ok says the refund was reported made;
// err is a protocol error (a replica gone mid-call).
func payAndRefund(cs *mcp.ClientSession, no string, mu *sync.Mutex, claim func(req string)) (ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWebPagePay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","totalAmount":1,"orderTitle":"t"}`)})
	if err != nil {
		return false, err
	}
	if res.IsError {
		return false, fmt.Errorf("create: %s", resultText(res))
	}
	if _, err := localalipay.PayLink(ctx, res.StructuredContent.(map[string]any)["url"].(string)); err != nil {
		return false, fmt.Errorf("pay: %w", err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameRefundPay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","refundAmount":0.01,"outRequestNo":"RF1"}`)})
	if err != nil {
		return false, err
	}
	if res.IsError {
		if strings.Contains(resultText(res), "CONFIRMATION") || strings.Contains(resultText(res), "确认") {
			return false, fmt.Errorf("refund confirmation refused: %s", resultText(res))
		}
		return false, nil
	}
	mu.Lock()
	claim("RF1")
	mu.Unlock()
	return true, nil
}

// paymentNotification is the trade's TRADE_SUCCESS notification, or nil.
func paymentNotification(d *localalipay.TradeDetail) *localalipay.NotificationInfo {
	for i, n := range d.Notifications {
		if n.Kind == "payment" {
			return &d.Notifications[i]
		}
	}
	return nil
}

// retriedNotifications are, from the local Alipay's own delivery record,
// the payment notifications of trades whose first attempt nginx answered
// 502 (its replica was gone) and a later attempt of the same notify_id was
// answered "success", by order number.
func retriedNotifications(t *testing.T, ctx context.Context, gw *localalipay.Server, trades []localalipay.TradeInfo) map[string]localalipay.NotificationInfo {
	t.Helper()
	out := map[string]localalipay.NotificationInfo{}
	for _, tr := range trades {
		if tr.PaidAt == "" {
			continue
		}
		var n *localalipay.NotificationInfo
		// A retry may be under way: wait until the record is final.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			d, err := gw.Trade(ctx, tr.OutTradeNo)
			if err != nil {
				t.Fatal(err)
			}
			if n = paymentNotification(d); n == nil || n.State != "pending" || time.Now().After(deadline) {
				break
			}
		}
		if n == nil || len(n.Log) == 0 || n.Log[0].OK || n.Log[0].HTTPStatus != http.StatusBadGateway {
			continue
		}
		last := n.Log[len(n.Log)-1]
		if n.State != "delivered" || !last.OK || last.Response != "success" {
			t.Errorf("%s: notification %s met the killed replica and was not delivered later: %+v", tr.OutTradeNo, n.NotifyID, n)
			continue
		}
		out[tr.OutTradeNo] = *n
	}
	return out
}

// replicaVars is the environment of replica name behind nginx lb, as
// docs/deploy.md sets it up: the shared ledger and state key, the
// replica's name, and the notify URL through nginx.
func replicaVars(gw *localalipay.Server, dbURL string, lb *nginxtest.Server, name string) map[string]string {
	vars := gatewayEnv(gw)
	vars["AP_HTTP_TOKENS"] = "platform:all:" + httpToken
	vars["AP_HTTP_REPLICA"] = name
	vars["AP_STATE_KEY"] = "replicas-share-this-key-0123456789abcdef"
	vars["AP_DATABASE_URL"] = dbURL
	vars["AP_NOTIFY_URL"] = lb.URL + "/alipay/notify"
	return vars
}

// hostPort is the address s listens on.
func (s *httpServer) hostPort() string {
	return strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/mcp")
}
