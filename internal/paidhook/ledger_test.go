package paidhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
)

const (
	ledgerApp = "2021000000000001"
	ledgerEnv = "local"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(m.Run()) // the sender process of the kill test: its ledger exists
	}
	os.Exit(pgtest.Main(m, &cluster))
}

// ledgerBackend is where a test's ledger lives: a SQLite file, or a fresh
// database of the throwaway PostgreSQL cluster.
type ledgerBackend struct {
	name  string
	where func(t *testing.T) string
}

func ledgerBackends() []ledgerBackend {
	return []ledgerBackend{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "ledger.db") }},
		{"postgres", func(t *testing.T) string {
			t.Helper()
			pgtest.Skip(t, cluster)
			u, err := cluster.NewDatabase(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return u
		}},
	}
}

// openLedger opens the ledger at where: a SQLite path or a PostgreSQL URL.
func openLedger(t testing.TB, where string) *ledger.Ledger {
	t.Helper()
	o := ledger.Options{Path: where}
	if ledger.IsPostgres(where) {
		o = ledger.Options{DatabaseURL: where}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := ledger.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pay records that the buyer paid order out, as a watch (or a
// notification) would: the ledger queues the paid event itself.
func pay(t testing.TB, l *ledger.Ledger, out string, amount alipay.Amount, source string) {
	t.Helper()
	if _, err := l.Account(ledgerApp, ledgerEnv).RecordStatus(context.Background(), ledger.StatusSeen{
		OutTradeNo: out, Status: alipay.TradeSuccess, TradeNo: "2026112922001400" + out[len(out)-4:],
		Amount: amount, Source: source, Who: "test",
	}); err != nil {
		t.Fatal(err)
	}
}

func pending(t testing.TB, l *ledger.Ledger) int {
	t.Helper()
	n, err := l.PendingEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLedgerOutbox: the sender drains the ledger's own outbox, on SQLite
// and on PostgreSQL. Payments are recorded through a second handle on the
// same database (another process, as far as the ledger can tell). A
// payment recorded after the sender went idle (poll interval: an hour) is
// sent at once, woken by the ledger's paid event (on PostgreSQL through
// LISTEN/NOTIFY); a payment seen twice (watch, then notification) is one
// event; a failed attempt is retried under the same id when its backoff
// ends, and the outbox ends empty.
func TestLedgerOutbox(t *testing.T) {
	for _, b := range ledgerBackends() {
		t.Run(b.name, func(t *testing.T) {
			where := b.where(t)
			l, other := openLedger(t, where), openLedger(t, where)
			rc := &receiver{check: verifyGeneric(testSecret)}
			rc.respond = func(n int, w http.ResponseWriter, d delivery) {
				if n == 2 {
					http.Error(w, "try again", http.StatusBadGateway)
					return
				}
				answerGeneric(w, d)
			}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			ob := &countingOutbox{Outbox: FromLedger(l)}
			opts := fastOptions(mustTarget(t, srv.URL, testSecret))
			opts.Poll = time.Hour
			s := mustSender(t, ob, opts)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := WakeOnPaid(ctx, l, s); err != nil {
				t.Fatal(err)
			}
			runSender(t, s)
			waitFor(t, "the first, empty claim", func() bool { return ob.claims.Load() >= 1 })

			// On SQLite the ledger's events stay in the process that
			// records them; there the sender's own handle records.
			recorder := other
			if l.Backend() == "sqlite" {
				recorder = l
			}
			pay(t, recorder, "T202611290101", 1999, ledger.SourceWatch)
			pay(t, recorder, "T202611290101", 1999, ledger.SourceNotification) // the same payment, seen again
			waitFor(t, "the first payment delivered", func() bool { return pending(t, l) == 0 })

			// Its first attempt gets a 502; the retry comes when its backoff
			// ends, though the poll interval is an hour.
			pay(t, recorder, "T202611290102", 7, ledger.SourceQuery)
			waitFor(t, "the retry delivered", func() bool { return pending(t, l) == 0 })

			got := rc.deliveries()
			if len(got) != 3 {
				t.Fatalf("%d requests, want 3 (one payment once, the other twice)", len(got))
			}
			wantIDs := []string{
				ledger.PaidEventID(ledgerApp, ledgerEnv, "T202611290101"),
				ledger.PaidEventID(ledgerApp, ledgerEnv, "T202611290102"),
				ledger.PaidEventID(ledgerApp, ledgerEnv, "T202611290102"),
			}
			for i, d := range got {
				if d.Problem != "" || d.EventID != wantIDs[i] {
					t.Errorf("request %d: id %s problem %q, want %s verified", i+1, d.EventID, d.Problem, wantIDs[i])
				}
			}
			if string(got[1].Body) != string(got[2].Body) {
				t.Errorf("the retry's body differs:\n%s\n%s", got[1].Body, got[2].Body)
			}
			var p map[string]string
			if err := json.Unmarshal(got[0].Body, &p); err != nil {
				t.Fatal(err)
			}
			if p["amount"] != "19.99" || p["out_trade_no"] != "T202611290101" || p["env"] != ledgerEnv || p["app_id"] != ledgerApp || p["paid_at"] == "" {
				t.Errorf("event body %s", got[0].Body)
			}
			var p2 map[string]string
			_ = json.Unmarshal(got[1].Body, &p2)
			if p2["amount"] != "0.07" {
				t.Errorf("7 fen sent as %q", p2["amount"])
			}
		})
	}
}
