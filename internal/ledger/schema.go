package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// SchemaVersion is the schema this binary writes. A database at a higher
// version was written by a newer binary and is refused.
const SchemaVersion = 4

// ErrNewerSchema is wrapped when the database was written by a newer binary.
var ErrNewerSchema = errors.New("数据库由更新版本的 mcp-server-alipay 写入 / the database was written by a newer mcp-server-alipay")

// NewerSchemaError is the refusal of a ledger whose schema a newer binary
// wrote; it wraps ErrNewerSchema.
type NewerSchemaError struct {
	Have      int // the ledger's schema version
	Supported int // the newest this binary knows (SchemaVersion)
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("账本结构版本 v%d 比本程序支持的 v%d 新 (由更新版本的 mcp-server-alipay 写入) / "+
		"the ledger's schema v%d is newer than the v%d this binary supports (written by a newer mcp-server-alipay)",
		e.Have, e.Supported, e.Have, e.Supported)
}

func (e *NewerSchemaError) Unwrap() error { return ErrNewerSchema }

// migrations[i] moves the schema from version i to i+1. v4 keeps one
// pinned seller per app and environment, the first pinned (v3 pinned one
// per authorising app, which a notification names itself). {{id}} and {{big}}
// are replaced per back end; everything else is SQL both accept.
var migrations = []string{`
CREATE TABLE ap_orders (
	id           {{id}},
	app_id       TEXT   NOT NULL,
	env          TEXT   NOT NULL,
	out_trade_no TEXT   NOT NULL,
	kind         TEXT   NOT NULL,
	amount_fen   {{big}} NOT NULL CHECK (amount_fen >= 0),
	title        TEXT   NOT NULL DEFAULT '',
	status       TEXT   NOT NULL,
	trade_no     TEXT   NOT NULL DEFAULT '',
	refunded_fen {{big}} NOT NULL DEFAULT 0 CHECK (refunded_fen >= 0),
	created_by   TEXT   NOT NULL DEFAULT '',
	created_ms   {{big}} NOT NULL,
	status_ms    {{big}} NOT NULL,
	paid_ms      {{big}} NOT NULL DEFAULT 0,
	UNIQUE (app_id, env, out_trade_no)
);
CREATE INDEX ap_orders_recent ON ap_orders (app_id, env, created_ms DESC, id DESC);
CREATE INDEX ap_orders_status ON ap_orders (app_id, env, status, created_ms DESC);
CREATE TABLE ap_order_status (
	id       {{id}},
	order_id {{big}} NOT NULL REFERENCES ap_orders (id),
	status   TEXT   NOT NULL,
	source   TEXT   NOT NULL,
	who      TEXT   NOT NULL DEFAULT '',
	at_ms    {{big}} NOT NULL
);
CREATE INDEX ap_order_status_order ON ap_order_status (order_id, id);
CREATE TABLE ap_refunds (
	id                 {{id}},
	app_id             TEXT   NOT NULL,
	env                TEXT   NOT NULL,
	out_trade_no       TEXT   NOT NULL,
	out_request_no     TEXT   NOT NULL,
	amount_fen         {{big}} NOT NULL CHECK (amount_fen > 0),
	reason             TEXT   NOT NULL DEFAULT '',
	who                TEXT   NOT NULL DEFAULT '',
	state              TEXT   NOT NULL,
	outcome            TEXT   NOT NULL DEFAULT '',
	confirmed_by_query INTEGER NOT NULL DEFAULT 0,
	day                TEXT   NOT NULL,
	created_ms         {{big}} NOT NULL,
	sent_ms            {{big}} NOT NULL DEFAULT 0,
	settled_ms         {{big}} NOT NULL DEFAULT 0,
	UNIQUE (app_id, env, out_trade_no, out_request_no)
);
CREATE INDEX ap_refunds_day ON ap_refunds (app_id, env, day);
CREATE TABLE ap_refund_steps (
	id        {{id}},
	refund_id {{big}} NOT NULL REFERENCES ap_refunds (id),
	step      TEXT   NOT NULL,
	who       TEXT   NOT NULL DEFAULT '',
	detail    TEXT   NOT NULL DEFAULT '',
	at_ms     {{big}} NOT NULL
);
CREATE INDEX ap_refund_steps_refund ON ap_refund_steps (refund_id, id);
CREATE TABLE ap_notifications (
	id           {{id}},
	app_id       TEXT   NOT NULL,
	env          TEXT   NOT NULL,
	notify_id    TEXT,
	out_trade_no TEXT   NOT NULL DEFAULT '',
	params       TEXT   NOT NULL,
	verified     INTEGER NOT NULL,
	verify_error TEXT   NOT NULL DEFAULT '',
	received_ms  {{big}} NOT NULL,
	UNIQUE (app_id, env, notify_id)
);
CREATE TABLE ap_audit (
	id             {{id}},
	app_id         TEXT   NOT NULL,
	env            TEXT   NOT NULL,
	at_ms          {{big}} NOT NULL,
	who            TEXT   NOT NULL DEFAULT '',
	action         TEXT   NOT NULL,
	out_trade_no   TEXT   NOT NULL DEFAULT '',
	out_request_no TEXT   NOT NULL DEFAULT '',
	amount_fen     {{big}} NOT NULL DEFAULT 0,
	result         TEXT   NOT NULL,
	detail         TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX ap_audit_at ON ap_audit (app_id, env, at_ms);
CREATE TABLE ap_outbox (
	id             {{id}},
	app_id         TEXT   NOT NULL,
	env            TEXT   NOT NULL,
	event_id       TEXT   NOT NULL UNIQUE,
	kind           TEXT   NOT NULL,
	payload        TEXT   NOT NULL,
	created_ms     {{big}} NOT NULL,
	next_ms        {{big}} NOT NULL,
	attempts       INTEGER NOT NULL DEFAULT 0,
	lease_owner    TEXT   NOT NULL DEFAULT '',
	lease_until_ms {{big}} NOT NULL DEFAULT 0,
	delivered_ms   {{big}} NOT NULL DEFAULT 0,
	last_error     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX ap_outbox_due ON ap_outbox (delivered_ms, next_ms);
CREATE TABLE ap_leases (
	app_id     TEXT   NOT NULL,
	env        TEXT   NOT NULL,
	name       TEXT   NOT NULL,
	holder     TEXT   NOT NULL,
	expires_ms {{big}} NOT NULL,
	PRIMARY KEY (app_id, env, name)
);
{{audit_append_only}}
`, `
ALTER TABLE ap_orders ADD COLUMN closed_ms {{big}} NOT NULL DEFAULT 0;
ALTER TABLE ap_orders ADD COLUMN payable_until_ms {{big}} NOT NULL DEFAULT 0;
`, `
CREATE TABLE ap_sellers (
	app_id      TEXT   NOT NULL,
	env         TEXT   NOT NULL,
	auth_app_id TEXT   NOT NULL,
	seller_id   TEXT   NOT NULL,
	pinned_ms   {{big}} NOT NULL,
	PRIMARY KEY (app_id, env, auth_app_id)
);
`, `
DELETE FROM ap_sellers WHERE EXISTS (SELECT 1 FROM ap_sellers s
	WHERE s.app_id = ap_sellers.app_id AND s.env = ap_sellers.env
	AND ((CASE WHEN s.auth_app_id = s.app_id THEN 0 ELSE 1 END) < (CASE WHEN ap_sellers.auth_app_id = ap_sellers.app_id THEN 0 ELSE 1 END)
		OR ((CASE WHEN s.auth_app_id = s.app_id THEN 0 ELSE 1 END) = (CASE WHEN ap_sellers.auth_app_id = ap_sellers.app_id THEN 0 ELSE 1 END)
			AND (s.pinned_ms < ap_sellers.pinned_ms OR (s.pinned_ms = ap_sellers.pinned_ms AND s.auth_app_id < ap_sellers.auth_app_id)))));
UPDATE ap_sellers SET auth_app_id = '';
`}

var sqliteAppendOnly = `
CREATE TRIGGER ap_audit_no_update BEFORE UPDATE ON ap_audit BEGIN SELECT RAISE(ABORT, 'ap_audit is append-only'); END;
CREATE TRIGGER ap_audit_no_delete BEFORE DELETE ON ap_audit BEGIN SELECT RAISE(ABORT, 'ap_audit is append-only'); END;
`

var pgAppendOnly = `
CREATE FUNCTION ap_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ap_audit is append-only'; END $$;
CREATE TRIGGER ap_audit_append_only BEFORE UPDATE OR DELETE ON ap_audit
	FOR EACH ROW EXECUTE FUNCTION ap_audit_append_only();
`

func (d dialect) ddl(m string) string {
	r := strings.NewReplacer("{{id}}", d.idColumn, "{{big}}", d.bigint, "{{audit_append_only}}", d.appendOnly)
	return r.Replace(m)
}

// migrateLockKey serialises migrations of processes starting together on
// PostgreSQL (pg_advisory_xact_lock); SQLite's BEGIN IMMEDIATE does the same.
const migrateLockKey = 0x61705f6c6564 // "ap_led"

// migrate brings the schema to SchemaVersion in one write transaction.
func (l *Ledger) migrate(ctx context.Context) error {
	return l.write(ctx, func(ctx context.Context, tx *txn) error {
		v, err := l.d.schemaVersion(ctx, tx.Tx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v > SchemaVersion {
			return &knownError{&NewerSchemaError{Have: v, Supported: SchemaVersion}}
		}
		for ; v < SchemaVersion; v++ {
			if _, err := tx.ExecContext(ctx, l.d.ddl(migrations[v])); err != nil {
				return fmt.Errorf("migrate schema to v%d: %w", v+1, err)
			}
		}
		return l.d.setSchemaVersion(ctx, tx.Tx, SchemaVersion)
	})
}

// sqlite: PRAGMA user_version. postgres: a one-row table, read after taking
// the migration lock.
func sqliteSchemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

func sqliteSetSchemaVersion(ctx context.Context, tx *sql.Tx, v int) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

func pgSchemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS ap_schema (version INTEGER NOT NULL)"); err != nil {
		return 0, err
	}
	var v int
	err := tx.QueryRowContext(ctx, "SELECT version FROM ap_schema").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = tx.ExecContext(ctx, "INSERT INTO ap_schema (version) VALUES (0)")
		return 0, err
	}
	return v, err
}

func pgSetSchemaVersion(ctx context.Context, tx *sql.Tx, v int) error {
	_, err := tx.ExecContext(ctx, "UPDATE ap_schema SET version = $1", v)
	return err
}
