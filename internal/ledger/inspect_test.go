package ledger

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// Inspect reads a ledger without creating or changing it: nothing there yet
// is a ledger that does not exist, and stays so.
func TestInspectNothingYet(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		o := b.fresh(t)
		ctx := ctxT(t)
		in, err := Inspect(ctx, o, "2021000000000001", "prod")
		if err != nil {
			t.Fatal(err)
		}
		if in.Exists || in.Where == "" {
			t.Fatalf("Inspect of nothing = %+v, want Exists false and Where set", in)
		}
		if o.Path != "" {
			if _, err := os.Stat(o.Path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Inspect created %s (stat: %v)", o.Path, err)
			}
			return
		}
		db, err := sql.Open("pgx", o.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var tables int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Fatalf("Inspect created %d tables", tables)
		}
	})
}

// Inspect counts one account's orders and undelivered paid events and
// finds its pinned seller, and no other account's.
func TestInspect(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		o := b.fresh(t)
		clk := newClock(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))
		o.Now = clk.Now
		l := open(t, o)
		ctx := ctxT(t)
		const app, other = "2021000000000001", "2021000000000002"
		a := l.Account(app, "prod")
		for _, no := range []string{"I1", "I2"} {
			if _, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: no, Kind: "web", Amount: 100, Title: "t", Who: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := l.Account(other, "prod").RecordOrder(ctx, NewOrder{OutTradeNo: "X1", Kind: "web", Amount: 100, Title: "t", Who: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.Account(app, "sandbox").RecordOrder(ctx, NewOrder{OutTradeNo: "S1", Kind: "web", Amount: 100, Title: "t", Who: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RecordStatus(ctx, StatusSeen{OutTradeNo: "I1", Status: alipay.TradeSuccess, TradeNo: "2026", Amount: 100, Source: SourceWatch}); err != nil {
			t.Fatal(err)
		}
		queued := clk.Now()
		clk.Add(time.Minute)
		if _, err := a.PinSeller(ctx, "2088000000000001"); err != nil {
			t.Fatal(err)
		}

		in, err := Inspect(ctx, o, app, "prod")
		if err != nil {
			t.Fatal(err)
		}
		if !in.Exists || in.Schema != SchemaVersion || in.Orders != 2 || in.Undelivered != 1 || in.Attempts != 0 ||
			!in.Oldest.Equal(queued) || in.Seller != "2088000000000001" || !in.SellerSince.Equal(clk.Now()) {
			t.Fatalf("Inspect = %+v; want schema v%d, 2 orders, 1 undelivered queued at %v, seller pinned at %v", in, SchemaVersion, queued, clk.Now())
		}
		in, err = Inspect(ctx, o, other, "prod")
		if err != nil {
			t.Fatal(err)
		}
		if in.Orders != 1 || in.Undelivered != 0 || !in.Oldest.IsZero() || in.Seller != "" {
			t.Fatalf("Inspect of the other app = %+v; want 1 order, nothing undelivered, no seller", in)
		}
	})
}

// A ledger a newer binary wrote is reported, not read.
func TestInspectNewerSchema(t *testing.T) {
	o := Options{Path: t.TempDir() + "/ledger.db"}
	l := open(t, o)
	ctx := ctxT(t)
	if _, err := l.db.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	in, err := Inspect(ctx, o, "2021000000000001", "prod")
	var newer *NewerSchemaError
	if !errors.As(err, &newer) || newer.Have != 99 || in == nil || !in.Exists || in.Schema != 99 {
		t.Fatalf("Inspect = %+v, %v; want a NewerSchemaError for v99", in, err)
	}
}

// Open with NoMigrate reads a ledger only as it is: nothing is created, an
// older schema is refused and left as it was, and a current one is read.
func TestOpenNoMigrate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		o := b.fresh(t)
		ctx := ctxT(t)
		ro := o
		ro.NoMigrate = true
		var oe *OpenError
		if l, err := Open(ctx, ro); !errors.As(err, &oe) {
			if l != nil {
				l.Close()
			}
			t.Fatalf("NoMigrate on nothing: %v, want an OpenError", err)
		}
		if in, err := Inspect(ctx, o, "2021000000000001", "prod"); err != nil || in.Exists {
			t.Fatalf("NoMigrate created something: %+v, %v", in, err)
		}

		l := open(t, o)
		if _, _, err := l.Account("2021000000000001", "prod").RecordOrder(ctx, NewOrder{OutTradeNo: "N1", Kind: "web", Amount: 100, Title: "t", Who: "test"}); err != nil {
			t.Fatal(err)
		}
		r, err := Open(ctx, ro)
		if err != nil {
			t.Fatalf("NoMigrate on a current ledger: %v", err)
		}
		if _, err := r.Account("2021000000000001", "prod").Order(ctx, "N1"); err != nil {
			t.Fatalf("NoMigrate ledger cannot read its order: %v", err)
		}
		if _, err := r.db.ExecContext(ctx, `UPDATE ap_orders SET title = 'x'`); err == nil {
			t.Fatal("a write through a NoMigrate ledger succeeded")
		}
		r.Close()

		// An older schema (as a newer binary would find it) is refused
		// and stays older; a newer one is refused too.
		setSchema := func(v int) {
			t.Helper()
			tx, err := l.db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.d.setSchemaVersion(ctx, tx, v); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			v    int
			want string
		}{{SchemaVersion - 1, "is older than this binary's"}, {SchemaVersion + 1, "is newer than"}} {
			setSchema(tc.v)
			if r, err := Open(ctx, ro); err == nil || !strings.Contains(err.Error(), tc.want) {
				if r != nil {
					r.Close()
				}
				t.Fatalf("NoMigrate on schema v%d: %v, want an error saying %q", tc.v, err, tc.want)
			}
			if v, err := l.schema(ctx); err != nil || v != tc.v {
				t.Fatalf("schema after NoMigrate = v%d (%v), want v%d as it was", v, err, tc.v)
			}
		}
		setSchema(SchemaVersion)
	})
}

// On SQLite, reading leaves the file's bytes as they were: an empty file
// stays empty (and is no ledger), and a ledger in rollback-journal mode is
// not switched to WAL.
func TestReadOnlyLeavesFileAlone(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if in, err := Inspect(ctx, Options{Path: empty}, "2021000000000001", "prod"); err != nil || in.Exists {
		t.Fatalf("Inspect of an empty file = %+v, %v; want no ledger", in, err)
	}
	if l, err := Open(ctx, Options{Path: empty, NoMigrate: true}); err == nil {
		l.Close()
		t.Fatal("NoMigrate opened an empty file")
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty file after reading: %v, %v", fi, err)
	}

	path := filepath.Join(dir, "ledger.db")
	l := open(t, Options{Path: path})
	if _, _, err := l.Account("2021000000000001", "prod").RecordOrder(ctx, NewOrder{OutTradeNo: "J1", Kind: "web", Amount: 100, Title: "t", Who: "test"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = DELETE").Scan(&mode); err != nil || mode != "delete" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Inspect(ctx, Options{Path: path}, "2021000000000001", "prod")
	if err != nil || in.Orders != 1 {
		t.Fatalf("Inspect = %+v, %v; want 1 order", in, err)
	}
	r, err := Open(ctx, Options{Path: path, NoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Account("2021000000000001", "prod").Order(ctx, "J1"); err != nil {
		t.Fatal(err)
	}
	r.Close()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("reading changed the ledger file")
	}
}
