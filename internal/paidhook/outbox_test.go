package paidhook

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// sqliteOutbox is a small Outbox on a SQLite file for the unit tests, which
// inspect a row's attempts and last error; the ledger's real outbox, behind
// FromLedger, is tested in ledger_test.go and kill_test.go. It keeps the
// same rules: a lease per claim, Failed never undoing Delivered.
type sqliteOutbox struct {
	db *sql.DB
}

func openOutbox(t testing.TB, path string) *sqliteOutbox {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS outbox (
		id TEXT PRIMARY KEY, payload TEXT NOT NULL, seq INTEGER NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL DEFAULT 0,
		lease_owner TEXT NOT NULL DEFAULT '', lease_until_ms INTEGER NOT NULL DEFAULT 0,
		delivered_ms INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	return &sqliteOutbox{db: db}
}

func newOutbox(t testing.TB) *sqliteOutbox {
	return openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
}

func (o *sqliteOutbox) add(t testing.TB, e Event) {
	t.Helper()
	if _, err := o.db.Exec(`INSERT INTO outbox (id, payload, seq) VALUES (?, ?, (SELECT COUNT(*) FROM outbox))`, e.ID, string(e.Body())); err != nil {
		t.Fatal(err)
	}
}

func (o *sqliteOutbox) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Event, error) {
	now := time.Now().UnixMilli()
	rows, err := o.db.QueryContext(ctx, `UPDATE outbox SET lease_owner = ?, lease_until_ms = ?
		WHERE id IN (SELECT id FROM outbox WHERE delivered_ms = 0 AND next_ms <= ? AND lease_until_ms <= ? ORDER BY seq LIMIT ?)
		RETURNING id, payload, attempts, seq`, owner, now+lease.Milliseconds(), now, now, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type row struct {
		e   Event
		seq int
	}
	var got []row
	for rows.Next() {
		var id, payload string
		var r row
		if err := rows.Scan(&id, &payload, &r.e.Attempts, &r.seq); err != nil {
			return nil, err
		}
		e, err := ParseEvent([]byte(payload))
		if err != nil {
			return nil, err
		}
		e.Attempts = r.e.Attempts
		r.e = e
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// RETURNING gives no order: oldest first.
	out := make([]Event, len(got))
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			if got[j].seq < got[i].seq {
				got[i], got[j] = got[j], got[i]
			}
		}
		out[i] = got[i].e
	}
	return out, nil
}

func (o *sqliteOutbox) Delivered(ctx context.Context, id string) error {
	_, err := o.db.ExecContext(ctx, `UPDATE outbox SET delivered_ms = ?, lease_owner = '', lease_until_ms = 0 WHERE id = ? AND delivered_ms = 0`, time.Now().UnixMilli(), id)
	return err
}

func (o *sqliteOutbox) Failed(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	_, err := o.db.ExecContext(ctx, `UPDATE outbox SET attempts = ?, next_ms = ?, last_error = ?, lease_owner = '', lease_until_ms = 0 WHERE id = ? AND delivered_ms = 0`,
		attempts, next.UnixMilli(), lastErr, id)
	return err
}

// row is one outbox row as the tests inspect it.
type outboxRow struct {
	Attempts    int
	Delivered   bool
	LeaseOwner  string
	LastError   string
	NextAttempt time.Time
}

func (o *sqliteOutbox) row(t testing.TB, id string) outboxRow {
	t.Helper()
	var r outboxRow
	var delivered, next int64
	if err := o.db.QueryRow(`SELECT attempts, delivered_ms, lease_owner, last_error, next_ms FROM outbox WHERE id = ?`, id).
		Scan(&r.Attempts, &delivered, &r.LeaseOwner, &r.LastError, &next); err != nil {
		t.Fatal(err)
	}
	r.Delivered, r.NextAttempt = delivered != 0, time.UnixMilli(next)
	return r
}
