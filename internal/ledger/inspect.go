package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// schema is the ledger's schema version, read without writing: 0 for a
// database without the ledger's tables. A PostgreSQL user that may not
// read the tables gets an *OpenError that says so (the server's own advice,
// to grant CREATE, is for a user that must make them).
func (l *Ledger) schema(ctx context.Context) (int, error) {
	var v int
	err := l.db.QueryRowContext(ctx, l.d.schemaQuery).Scan(&v)
	var pe *pgconn.PgError
	switch {
	case (errors.As(err, &pe) && pe.Code == "42P01") || errors.Is(err, sql.ErrNoRows):
		return 0, nil // PostgreSQL without ap_schema, or before its first row
	case errors.As(err, &pe) && pe.Code == "42501":
		return 0, &OpenError{Where: l.shownWhere(), Problem: "没有读取账本的权限 / permission denied to read the ledger",
			Fix: "授予该用户读取账本各表的权限 (GRANT SELECT) / grant the user SELECT on the ledger's tables", Err: err}
	}
	return v, err
}

// schemaIsCurrent is Open's check with NoMigrate: the schema is this
// binary's.
func (l *Ledger) schemaIsCurrent(ctx context.Context) error {
	where := l.shownWhere()
	v, err := l.schema(ctx)
	switch {
	case err != nil:
		return err
	case v > SchemaVersion:
		return &NewerSchemaError{Have: v, Supported: SchemaVersion}
	case v == 0:
		return &OpenError{Where: where, Problem: "数据库里没有账本的表 / the database has no ledger tables",
			Fix: "先启动一次服务器以创建账本 / start the server once to create the ledger"}
	case v < SchemaVersion:
		return &OpenError{Where: where,
			Problem: fmt.Sprintf("账本结构版本 v%d 比本程序的 v%d 旧 / the ledger's schema v%d is older than this binary's v%d", v, SchemaVersion, v, SchemaVersion),
			Fix:     "用写入它的版本读取, 或先启动本版本的服务器 (它会迁移账本) / read it with the version that wrote it, or start this version's server first (it migrates the ledger)"}
	}
	return nil
}

// Inspection is what a ledger holds for one account, read without changing
// the database, for `mcp-server-alipay doctor`.
type Inspection struct {
	// Where is the SQLite file, or the PostgreSQL URL with its password
	// redacted.
	Where string
	// Exists is false when there is no ledger yet (no file, or no tables):
	// the server creates it when it starts.
	Exists bool
	// Schema is the schema version found. The server migrates an older one
	// to SchemaVersion when it starts; the figures below are read only from
	// a ledger at SchemaVersion.
	Schema int
	// Orders counts the account's orders.
	Orders int64
	// Undelivered counts the account's paid events not yet delivered to the
	// paid webhook; Oldest is when the oldest of them was queued, and
	// Attempts how many deliveries of it were tried.
	Undelivered int64
	Oldest      time.Time
	Attempts    int
	// Seller is the seller_id pinned for the account by the first
	// notification that passed every other check ("" if none yet), and
	// SellerSince when it was pinned.
	Seller      string
	SellerSince time.Time
}

// Inspect reads what the ledger o names holds for appID in env, read-only
// (SQLite's mode=ro, PostgreSQL's read-only transactions), without
// creating or migrating it: a missing file, an empty one or a database
// without the ledger's tables is an Inspection that does not exist. A
// ledger written by a newer binary is a *NewerSchemaError (with the
// Inspection); one that cannot be opened or read, an *OpenError; a query
// that fails after that, an error wrapping ErrUnavailable.
func Inspect(ctx context.Context, o Options, appID, env string) (*Inspection, error) {
	var l *Ledger
	var err error
	if IsPostgres(o.DatabaseURL) {
		if l, err = openPostgres(ctx, o.DatabaseURL, true); err != nil {
			return nil, err
		}
	} else {
		path, pathVar, err := o.sqlitePath()
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return &Inspection{Where: path}, nil
		}
		if l, err = openSQLiteReadOnly(ctx, path, pathVar); err != nil {
			return nil, err
		}
	}
	defer l.db.Close()
	in := &Inspection{Where: l.where}
	in.Schema, err = l.schema(ctx)
	var oe *OpenError
	switch {
	case errors.As(err, &oe):
		return nil, oe
	case err != nil:
		return nil, l.openError(err)
	case in.Schema == 0:
		return in, nil // no tables yet: an empty SQLite file, or PostgreSQL without them
	case in.Schema > SchemaVersion:
		in.Exists = true
		return in, &NewerSchemaError{Have: in.Schema, Supported: SchemaVersion}
	}
	in.Exists = true
	if in.Schema < SchemaVersion {
		return in, nil
	}
	if err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_orders WHERE app_id = $1 AND env = $2`,
		appID, env).Scan(&in.Orders); err != nil {
		return nil, l.unavailable(err)
	}
	var oldest sql.NullInt64
	var attempts sql.NullInt64
	if err := l.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_ms),
		(SELECT attempts FROM ap_outbox WHERE app_id = $1 AND env = $2 AND delivered_ms = 0 ORDER BY created_ms, id LIMIT 1)
		FROM ap_outbox WHERE app_id = $1 AND env = $2 AND delivered_ms = 0`,
		appID, env).Scan(&in.Undelivered, &oldest, &attempts); err != nil {
		return nil, l.unavailable(err)
	}
	if oldest.Valid {
		in.Oldest, in.Attempts = fromMS(oldest.Int64), int(attempts.Int64)
	}
	var since int64
	err = l.db.QueryRowContext(ctx, `SELECT seller_id, pinned_ms FROM ap_sellers WHERE app_id = $1 AND env = $2 AND auth_app_id = ''`,
		appID, env).Scan(&in.Seller, &since)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, l.unavailable(err)
	default:
		in.SellerSince = fromMS(since)
	}
	return in, nil
}
