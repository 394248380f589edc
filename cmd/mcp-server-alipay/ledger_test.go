package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paidhook"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"

	_ "modernc.org/sqlite"
)

// ledgerOf opens, beside the server, the ledger its env uses (SQLite
// allows several processes) and returns the local app's account.
func ledgerOf(t *testing.T, e *env) *ledger.Account {
	t.Helper()
	l, err := ledger.Open(context.Background(), ledger.Options{Path: filepath.Join(e.home, ".local", "share", "mcp-server-alipay", ledger.FileName)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	app, err := localalipay.AppID(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return l.Account(app, "local")
}

// waitFor polls cond every 20 ms for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var localAt = regexp.MustCompile(`local Alipay at (http://[a-z0-9.:\[\]]+)`)

// TestKill9MidRefund: the server is killed while the refund request is on
// its way (recorded as sent, no answer). The restarted server says the
// refund's outcome is unknown, and the next refund call under that
// outRequestNo settles it with a refund query, then sends it (once).
func TestKill9MidRefund(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_REFUND_CONFIRM": "never"})
	s := e.connect(t)
	no, base := s.paidAt(t, "KILL")
	acct := ledgerOf(t, e)
	setLocalFaults(t, base, `{"latency_ms":60000,"methods":["alipay.trade.refund"]}`)
	go func() {
		s.CallTool(context.Background(), &mcp.CallToolParams{Name: tools.NameRefundPay, Arguments: json.RawMessage(refundArgs(no))})
	}()
	waitFor(t, "the refund recorded as sent", func() bool {
		r, err := acct.Refund(context.Background(), no, no+"-R1")
		return err == nil && r.State == ledger.RefundSent
	})
	if err := s.cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup of any kind
		t.Fatal(err)
	}
	s.cmd.Process.Wait()

	s2 := e.connect(t)
	// The lines are written before the server serves, but reach the test
	// through the stderr pipe's copier: wait for them rather than sample.
	wants := []string{"unknown outcome", no + "-R1", "¥50.00"}
	waitFor(t, "the restart lists the refund of unknown outcome on stderr", func() bool {
		out := s2.stderr.String()
		for _, want := range wants {
			if !strings.Contains(out, want) {
				return false
			}
		}
		return true
	})
	out := s2.stderr.String()
	if r, _ := acct.Refund(context.Background(), no, no+"-R1"); !r.Unsettled() {
		t.Fatalf("after the restart the refund is %+v, want sent with an unknown outcome", r)
	}
	// The query's text, `orders` and the http command's start-up say so too.
	if text := resText(s2.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`)); !strings.Contains(text, "unknown outcome") || !strings.Contains(text, no+"-R1") {
		t.Errorf("query text does not show the refund of unknown outcome:\n%s", text)
	}
	if ordersOut, _, _ := runBinary(t, e, "orders"); !strings.Contains(ordersOut, "unknown outcome") || !strings.Contains(ordersOut, no+"-R1") {
		t.Errorf("orders does not show the refund of unknown outcome:\n%s", ordersOut)
	}
	if hs := startHTTP(t, e); !strings.Contains(hs.stderr.String(), "unknown outcome") || !strings.Contains(hs.stderr.String(), no+"-R1") {
		t.Errorf("http start-up does not report the refund of unknown outcome:\n%s", hs.stderr.String())
	}
	m := localAt.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no local Alipay address in stderr:\n%s", out)
	}
	base2 := m[1]
	if n := refundsAt(t, base2, no); n != 0 {
		t.Fatalf("%d refunds at the local Alipay; the killed request never reached it", n)
	}
	res := s2.call(t, tools.NameRefundPay, refundArgs(no))
	mustOK(t, res)
	r, err := acct.Refund(context.Background(), no, no+"-R1")
	if err != nil || r.Outcome != ledger.OutcomeSucceeded {
		t.Fatalf("after the retry the refund is %+v, %v", r, err)
	}
	steps, _ := acct.Steps(context.Background(), no, no+"-R1")
	var names []string
	for _, st := range steps {
		names = append(names, st.Step)
	}
	if want := "reserved sent sent succeeded"; strings.Join(names, " ") != want {
		t.Errorf("steps %v, want %s (the first sent never answered)", names, want)
	}
	if n := refundsAt(t, base2, no); n != 1 {
		t.Fatalf("%d refunds at the local Alipay, want exactly 1", n)
	}
	// The refund query settles too: a refund of the second order whose
	// answer is lost after Alipay made it.
	no2, _ := s2.paidAt(t, "KILLQ")
	setLocalFaults(t, base2, `{"system_error_rate":1,"system_error_after_commit":true,"methods":["alipay.trade.refund"]}`)
	mustToolError(t, s2.call(t, tools.NameRefundPay, refundArgs(no2)), "SAME outRequestNo")
	setLocalFaults(t, base2, "")
	if r, _ := acct.Refund(context.Background(), no2, no2+"-R1"); !r.Unsettled() {
		t.Fatalf("after a lost answer the refund is %+v, want unknown", r)
	}
	mustOK(t, s2.call(t, tools.NameRefundQuery, `{"outTradeNo":"`+no2+`","outRequestNo":"`+no2+`-R1"}`))
	if r, _ := acct.Refund(context.Background(), no2, no2+"-R1"); r.Outcome != ledger.OutcomeSucceeded || !r.ConfirmedByQuery {
		t.Fatalf("after query-alipay-refund the refund is %+v, want succeeded, confirmed by the query", r)
	}
}

// TestWatchResumesAfterRestart: an order whose link was made before a
// restart is watched again, and its payment recorded and announced.
func TestWatchResumesAfterRestart(t *testing.T) {
	e := newEnv(t, nil)
	s := e.connect(t)
	no := orderNo("RESUME")
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":9.99,"orderTitle":"t"}`)
	mustOK(t, res)
	link := structuredField(res, "url")
	s.Close()
	s.cmd.Wait()

	s2 := e.connect(t)
	acct := ledgerOf(t, e)
	// The restarted local Alipay may listen elsewhere: the same link, at
	// its address (same data directory, so the same trades).
	m := localAt.FindStringSubmatch(s2.stderr.String())
	if m == nil {
		t.Fatalf("no local Alipay address in stderr:\n%s", s2.stderr.String())
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	link = m[1] + u.RequestURI()
	if _, err := localalipay.PayLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	// Nobody queries: only the resumed watch can see the payment.
	waitFor(t, "the resumed watch to record the payment", func() bool {
		o, err := acct.Order(context.Background(), no)
		return err == nil && o.Paid()
	})
	h, _ := acct.History(context.Background(), no)
	if len(h) == 0 || h[len(h)-1].Source != ledger.SourceWatch {
		t.Fatalf("history %+v: want the payment seen by the watch", h)
	}
}

// TestOrdersCommand lists what a session recorded, as a table, JSON and CSV.
func TestOrdersCommand(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_REFUND_CONFIRM": "never"})
	s := e.connect(t)
	no, _ := s.paidAt(t, "ORD")
	mustOK(t, s.call(t, tools.NameRefundPay, refundArgs(no)))
	open := orderNo("OPEN")
	mustOK(t, s.call(t, tools.NameMobilePay, `{"outTradeNo":"`+open+`","totalAmount":0.07,"orderTitle":"t"}`))
	s.Close()

	out, errOut, code := runBinary(t, e, "orders")
	if code != 0 || !strings.Contains(out, no) || !strings.Contains(out, "199.00") || !strings.Contains(out, "50.00") || !strings.Contains(out, open) {
		t.Fatalf("orders: exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = runBinary(t, e, "orders", "--json", "--status", "paid")
	if code != 0 || strings.Contains(out, open) || !strings.Contains(out, `"refunded":"50.00"`) || !strings.Contains(out, `"amount":"199.00"`) {
		t.Fatalf("orders --json --status paid: exit %d\n%s", code, out)
	}
	out, _, code = runBinary(t, e, "orders", "--csv", "--status", "NOT_OPENED")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "out_trade_no,status,amount,refunded,paid_at") || !strings.HasPrefix(lines[1], open+",NOT_OPENED,0.07,0.00,,") {
		t.Fatalf("orders --csv: exit %d\n%s", code, out)
	}
	out, _, code = runBinary(t, e, "orders", "--until", "2020-01-01")
	if code != 0 || strings.Contains(out, no) {
		t.Fatalf("orders --until 2020-01-01: exit %d\n%s", code, out)
	}
	_, errOut, code = runBinary(t, e, "orders", "--status", "PAYED")
	if code != 2 || !strings.Contains(errOut, "--status") || !strings.Contains(errOut, "PAYED") {
		t.Fatalf("orders --status PAYED: exit %d\n%s", code, errOut)
	}
	// A mistyped path: said so, and no empty ledger is made there.
	typo := filepath.Join(t.TempDir(), "ledgr.db")
	e.vars["AP_DATABASE_URL"] = typo
	_, errOut, code = runBinary(t, e, "orders")
	if code != 1 || !strings.Contains(errOut, "cannot open the ledger "+typo) || !strings.Contains(errOut, "no ledger there") {
		t.Fatalf("orders with a mistyped AP_DATABASE_URL: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(typo); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("orders created %s: %v", typo, err)
	}
}

// TestLedgerStartupFaults: a ledger that cannot be opened stops start-up
// with one line naming the file or the URL (password hidden) and what to do.
func TestLedgerStartupFaults(t *testing.T) {
	type tc struct {
		name string
		vars map[string]string
		prep func(t *testing.T, path string)
		want []string
	}
	free := freeLoopbackAddr(t)
	key := strings.Repeat("k", 32)
	cases := []tc{
		{"corrupt file", nil, func(t *testing.T, path string) {
			os.MkdirAll(filepath.Dir(path), 0o700)
			os.WriteFile(path, []byte(strings.Repeat("not a database ", 400)), 0o600)
		}, []string{"ledger.db", "damaged", "backup"}},
		{"newer schema", nil, func(t *testing.T, path string) {
			l, err := ledger.Open(context.Background(), ledger.Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
				t.Fatal(err)
			}
		}, []string{"ledger.db", "newer", "v99", "upgrade"}},
		{"PostgreSQL unreachable", map[string]string{"AP_STATE_KEY": key,
			"AP_DATABASE_URL": "postgres://u:secret-pw@" + free + "/db?connect_timeout=5"},
			nil, []string{"AP_DATABASE_URL=postgres://u:xxxxx@127.0.0.1", "unreachable", "host and port"}},
	}
	if c, err := pgtest.Start(context.Background()); err == nil {
		t.Cleanup(c.Stop)
		cases = append(cases, tc{"bad credentials", map[string]string{"AP_STATE_KEY": key,
			"AP_DATABASE_URL": strings.Replace(c.URL("postgres"), pgtest.Password, "secret-pw", 1)},
			nil, []string{"AP_DATABASE_URL=postgres://ledger:xxxxx@", "authentication failed", "user and password"}})
	} else if pgtest.Required() {
		t.Fatalf("PostgreSQL is required under CI=true: %v", err)
	} else {
		t.Logf("bad credentials case skipped: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			xdg := t.TempDir()
			vars := map[string]string{"XDG_DATA_HOME": xdg}
			for k, v := range c.vars {
				vars[k] = v
			}
			e := newEnv(t, vars)
			if c.prep != nil {
				c.prep(t, filepath.Join(xdg, "mcp-server-alipay", ledger.FileName))
			}
			_, errOut, code := runBinary(t, e)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, errOut)
			}
			var line string
			for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
				if strings.Contains(l, "ledger") {
					if line != "" {
						t.Fatalf("more than one line about the ledger:\n%s", errOut)
					}
					line = l
				}
			}
			if strings.Contains(errOut, "secret-pw") {
				t.Fatalf("the password leaked:\n%s", errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q lacks %q", line, w)
				}
			}
		})
	}
}

// TestPaidWebhookFromBinary: with AP_PAID_WEBHOOK set, the server starts the
// sender over the ledger's outbox; a payment the watch sees reaches the
// receiver once, signed, under the order's stable event id.
func TestPaidWebhookFromBinary(t *testing.T) {
	const secret = "0123456789abcdef-webhook-secret"
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	t.Cleanup(recv.Close)
	e := newEnv(t, map[string]string{"AP_PAID_WEBHOOK": recv.URL + "/paid", "AP_PAID_WEBHOOK_SECRET": secret})
	s := e.connect(t)
	no, _ := s.paidAt(t, "HOOK")
	var r *http.Request
	var body []byte
	select {
	case r = <-got:
		body = <-bodies
	case <-time.After(20 * time.Second):
		t.Fatalf("no paid notification within 20 s; server stderr:\n%s", s.stderr.String())
	}
	if err := paidhook.Verify(secret, r.Header.Get(paidhook.HeaderSignature), body, time.Now(), paidhook.DefaultTolerance); err != nil {
		t.Fatalf("signature: %v", err)
	}
	ev, err := paidhook.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := localalipay.AppID(e.dataDir)
	if ev.OutTradeNo != no || ev.Amount != 19900 || ev.ID != ledger.PaidEventID(app, "local", no) || ev.ID != paidhook.NewEventID("local", app, no) {
		t.Fatalf("event %+v", ev)
	}
	// A query that sees the payment again queues nothing more, and the
	// delivery is recorded: nothing is left in the outbox.
	mustOK(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`))
	led := ledgerOf(t, e).Ledger()
	waitFor(t, "the delivery to be recorded", func() bool {
		n, err := led.PendingEvents(context.Background())
		return err == nil && n == 0
	})
}

// TestPostgresLedgerThroughBinary: AP_DATABASE_URL=postgres://… puts the
// ledger in PostgreSQL; orders reads it back.
func TestPostgresLedgerThroughBinary(t *testing.T) {
	u := pgtest.Database(t)
	e := newEnv(t, map[string]string{"AP_DATABASE_URL": u, "AP_STATE_KEY": strings.Repeat("k", 32), "AP_REFUND_CONFIRM": "never"})
	s := e.connect(t)
	no, _ := s.paidAt(t, "PG")
	mustOK(t, s.call(t, tools.NameRefundPay, refundArgs(no)))
	s.Close()
	out, errOut, code := runBinary(t, e, "orders", "--json")
	if code != 0 || !strings.Contains(out, `"out_trade_no":"`+no+`"`) || !strings.Contains(out, `"refunded":"50.00"`) {
		t.Fatalf("orders on PostgreSQL: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(errOut, pgtest.Password) {
		t.Fatalf("the password leaked: %s", errOut)
	}
}

// TestClosedUnopenedAfterRestart: an order closed before its link was
// opened stays closed across a restart (the ledger keeps the close): a new
// link is refused, and when the buyer opens the old one the resumed watch
// closes the trade, so it cannot be paid.
func TestClosedUnopenedAfterRestart(t *testing.T) {
	e := newEnv(t, map[string]string{"AP_SELECT_TOOLS": "all,closePay"})
	s := e.connect(t)
	no := orderNo("CLOSED")
	args := `{"outTradeNo":"` + no + `","totalAmount":3.5,"orderTitle":"t"}`
	res := s.call(t, tools.NameWebPagePay, args)
	mustOK(t, res)
	link := structuredField(res, "url")
	mustOK(t, s.call(t, tools.NameClosePay, `{"outTradeNo":"`+no+`"}`))
	s.Close()
	s.cmd.Wait()

	s2 := e.connect(t)
	mustToolError(t, s2.call(t, tools.NameMobilePay, args), "use a new outTradeNo")
	m := localAt.FindStringSubmatch(s2.stderr.String())
	if m == nil {
		t.Fatalf("no local Alipay address in stderr:\n%s", s2.stderr.String())
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	link = m[1] + u.RequestURI()
	if _, err := localalipay.OpenLink(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	// Nobody queries: only the resumed watch can close the opened trade.
	acct := ledgerOf(t, e)
	waitFor(t, "the resumed watch to close the opened trade", func() bool {
		o, err := acct.Order(context.Background(), no)
		return err == nil && o.Status == "TRADE_CLOSED"
	})
	if _, err := localalipay.PayLink(context.Background(), link); err == nil {
		t.Fatal("the buyer paid an order closed before the restart")
	}
}

// TestLedgerHoldsNoSecrets dumps every table of the SQLite ledger after a
// link, a payment, a refund and a query made with AP_INVOKE_AUTH_TOKEN
// set: neither the token, nor a private key, nor a signed URL is stored.
func TestLedgerHoldsNoSecrets(t *testing.T) {
	const token = "202611BBsecretAuthTok3n9f"
	e := newEnv(t, map[string]string{"AP_REFUND_CONFIRM": "never", "AP_INVOKE_AUTH_TOKEN": token})
	s := e.connect(t)
	no, _ := s.paidAt(t, "SECRET")
	mustOK(t, s.call(t, tools.NameRefundPay, refundArgs(no)))
	mustOK(t, s.call(t, tools.NameQueryPay, `{"outTradeNo":"`+no+`"}`))
	s.Close()

	db, err := sql.Open("sqlite", filepath.Join(e.home, ".local", "share", "mcp-server-alipay", ledger.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dump strings.Builder
	tables, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	rows := 0
	for _, n := range names {
		r, err := db.Query(`SELECT * FROM "` + n + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := r.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&dump, "%s: %v\n", n, vals)
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					dump.Write(b)
				}
			}
			rows++
		}
		r.Close()
	}
	out := dump.String()
	if rows < 5 || !strings.Contains(out, no) {
		t.Fatalf("the dump holds %d rows and not the order: the flow was not recorded?\n%s", rows, out)
	}
	secrets := []string{token, "sign=", "PRIVATE KEY", "app_auth_token"}
	// Pieces of the local app's and local Alipay's private keys.
	files, _ := os.ReadDir(e.dataDir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(e.dataDir, f.Name()))
		var id map[string]any
		if err != nil || json.Unmarshal(b, &id) != nil {
			continue
		}
		for _, k := range []string{"app_private_key", "alipay_private_key"} {
			key, _ := id[k].(string)
			for i := 0; i+40 <= len(key); i += 200 {
				secrets = append(secrets, key[i:i+40])
			}
		}
	}
	if len(secrets) < 10 {
		t.Fatalf("found no private key in %s to look for", e.dataDir)
	}
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("the ledger holds %.24q…", sec)
		}
	}
}
