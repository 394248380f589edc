package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// eventChannel is the LISTEN/NOTIFY channel of ledger events.
const eventChannel = "ap_ledger_events"

var pgDialect = dialect{
	name:             "postgres",
	idColumn:         "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
	bigint:           "BIGINT",
	appendOnly:       pgAppendOnly,
	forUpdate:        " FOR UPDATE",
	skipLocked:       " FOR UPDATE SKIP LOCKED",
	schemaVersion:    pgSchemaVersion,
	schemaQuery:      "SELECT version FROM ap_schema",
	setSchemaVersion: pgSetSchemaVersion,
	lock: func(ctx context.Context, tx *sql.Tx, key string) error {
		h := fnv.New64a()
		h.Write([]byte(key))
		_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64()))
		return err
	},
	notify: func(ctx context.Context, tx *sql.Tx, events []Event) error {
		for _, e := range events {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", eventChannel, string(b)); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
		}
		return nil
	},
}

// openPostgres connects through pgx's database/sql driver, so both back ends
// share one set of queries ($n placeholders work in SQLite too); events use
// a dedicated pgx connection for LISTEN. A readOnly ledger's sessions start
// every transaction read-only (default_transaction_read_only), so the
// server refuses any write through it.
func openPostgres(ctx context.Context, rawURL string, readOnly bool) (*Ledger, error) {
	where := redactURL(rawURL)
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, &OpenError{Where: pgWhere(where),
			Problem: "不是有效的 PostgreSQL 地址 / not a valid PostgreSQL URL",
			Fix:     "格式如 postgres://user:password@host:5432/dbname / use the form postgres://user:password@host:5432/dbname"}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if readOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, pgOpenError(where, err)
	}
	return &Ledger{db: db, d: pgDialect, where: where, pgURL: rawURL}, nil
}
