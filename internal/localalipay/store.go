package localalipay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// dbFile is the SQLite database inside the data directory.
const dbFile = "local-alipay.db"

// schemaVersion is PRAGMA user_version after migrate.
const schemaVersion = 3

// migrations[i] moves the schema from version i to i+1.
var migrations = []string{
	`CREATE TABLE trades (
		id              INTEGER PRIMARY KEY,
		app_id          TEXT    NOT NULL,
		out_trade_no    TEXT    NOT NULL UNIQUE,
		trade_no        TEXT    NOT NULL UNIQUE,
		method          TEXT    NOT NULL,
		product_code    TEXT    NOT NULL,
		subject         TEXT    NOT NULL,
		body            TEXT    NOT NULL DEFAULT '',
		total_fen       INTEGER NOT NULL CHECK (total_fen > 0),
		status          TEXT    NOT NULL,
		notify_url      TEXT    NOT NULL DEFAULT '',
		return_url      TEXT    NOT NULL DEFAULT '',
		quit_url        TEXT    NOT NULL DEFAULT '',
		passback_params TEXT    NOT NULL DEFAULT '',
		sign_type       TEXT    NOT NULL,
		fingerprint     TEXT    NOT NULL,
		pay_token       TEXT    NOT NULL,
		created_ms      INTEGER NOT NULL,
		expires_ms      INTEGER NOT NULL DEFAULT 0,
		paid_ms         INTEGER NOT NULL DEFAULT 0,
		closed_ms       INTEGER NOT NULL DEFAULT 0,
		close_reason    TEXT    NOT NULL DEFAULT '',
		buyer_id        TEXT    NOT NULL DEFAULT '',
		buyer_logon_id  TEXT    NOT NULL DEFAULT '',
		refunded_fen    INTEGER NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0 AND refunded_fen <= total_fen)
	);
	CREATE INDEX trades_status_expires ON trades (status, expires_ms);
	CREATE TABLE refunds (
		id             INTEGER PRIMARY KEY,
		trade_id       INTEGER NOT NULL REFERENCES trades (id),
		out_request_no TEXT    NOT NULL,
		amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
		reason         TEXT    NOT NULL DEFAULT '',
		created_ms     INTEGER NOT NULL,
		UNIQUE (trade_id, out_request_no)
	);
	CREATE TABLE notifications (
		id             INTEGER PRIMARY KEY,
		trade_id       INTEGER NOT NULL REFERENCES trades (id),
		notify_id      TEXT    NOT NULL UNIQUE,
		kind           TEXT    NOT NULL,
		trade_status   TEXT    NOT NULL,
		url            TEXT    NOT NULL,
		body           TEXT    NOT NULL,
		state          TEXT    NOT NULL DEFAULT 'pending',
		attempts       INTEGER NOT NULL DEFAULT 0, -- all attempts, for the log
		retry_index    INTEGER NOT NULL DEFAULT 0, -- position in the retry schedule; a resend resets it
		next_ms        INTEGER NOT NULL,
		lease_owner    TEXT    NOT NULL DEFAULT '',
		lease_until_ms INTEGER NOT NULL DEFAULT 0,
		created_ms     INTEGER NOT NULL,
		delivered_ms   INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX notifications_due ON notifications (state, next_ms);
	CREATE TABLE notification_attempts (
		id              INTEGER PRIMARY KEY,
		notification_id INTEGER NOT NULL REFERENCES notifications (id),
		n               INTEGER NOT NULL,
		at_ms           INTEGER NOT NULL,
		http_status     INTEGER NOT NULL DEFAULT 0,
		response        TEXT    NOT NULL DEFAULT '',
		error           TEXT    NOT NULL DEFAULT '',
		ok              INTEGER NOT NULL DEFAULT 0
	);`,
	// The control API lists a trade's notifications and their attempts.
	`CREATE INDEX notifications_trade ON notifications (trade_id);
	CREATE INDEX notification_attempts_notification ON notification_attempts (notification_id);`,
	// alipay.trade.precreate: a QR code names an order that becomes a
	// trade when the buyer scans it.
	`CREATE TABLE precreates (
		code         TEXT    PRIMARY KEY,
		out_trade_no TEXT    NOT NULL,
		fingerprint  TEXT    NOT NULL,
		order_json   TEXT    NOT NULL,
		created_ms   INTEGER NOT NULL
	);
	CREATE INDEX precreates_order ON precreates (out_trade_no, fingerprint);`,
}

// store is the SQLite state shared by every Server on the same data
// directory, in this process or another.
type store struct {
	db *sql.DB
	// committed, when set, is called after every committed write: the
	// notifier is woken only once what it is to send is visible to it.
	committed func()
}

// openStore opens (creating if needed) the database in dir: WAL, a busy
// timeout, foreign keys, and write transactions that take the lock up front
// (BEGIN IMMEDIATE) so concurrent writers queue instead of failing.
func openStore(ctx context.Context, dir string) (*store, error) {
	path := filepath.Join(dir, dbFile)
	// Create the file ourselves so that it is private; SQLite gives the WAL
	// and shared-memory files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	s := &store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

func (s *store) close() error { return s.db.Close() }

// migrate brings the schema to schemaVersion inside one write transaction,
// so two processes starting together migrate once.
func (s *store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > schemaVersion {
			return fmt.Errorf("数据库版本 %d 比本程序的 %d 新, 请升级程序 / database schema version %d is newer than this program's %d", v, schemaVersion, v, schemaVersion)
		}
		for ; v < schemaVersion; v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return fmt.Errorf("set schema version: %w", err)
		}
		return nil
	})
}

// tx runs fn in a write transaction and commits it when fn returns nil.
func (s *store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if s.committed != nil {
		s.committed()
	}
	return nil
}

// errNotFound is returned by lookups that find nothing.
var errNotFound = errors.New("not found")

// ms converts a time to the unix milliseconds stored in the database.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored unix milliseconds back; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
