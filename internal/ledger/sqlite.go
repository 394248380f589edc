package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

var sqliteDialect = dialect{
	name:             "sqlite",
	idColumn:         "INTEGER PRIMARY KEY",
	bigint:           "INTEGER",
	appendOnly:       sqliteAppendOnly,
	localEvents:      true,
	schemaVersion:    sqliteSchemaVersion,
	schemaQuery:      "PRAGMA user_version",
	setSchemaVersion: sqliteSetSchemaVersion,
	lock:             func(context.Context, *sql.Tx, string) error { return nil },
	notify:           func(context.Context, *sql.Tx, []Event) error { return nil },
}

// openSQLite opens (creating if needed) the file: WAL, a busy timeout, and
// write transactions that take the write lock up front (BEGIN IMMEDIATE), so
// writers of every process queue instead of failing.
// pathVar names the variable that chose the file (AP_DATABASE_URL, or
// XDG_DATA_HOME for the default), for the advice of an error.
func openSQLite(ctx context.Context, path, pathVar string) (*Ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, sqliteOpenError(path, pathVar, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, sqliteOpenError(path, pathVar, err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Group commit gives each caller's write a savepoint, and SQLite keeps
	// what a savepoint needs to roll back in a statement journal, a
	// temporary file once it passes 64 KiB: about 3.5 pwrite calls a call
	// under the HTTP benchmark's load. In memory it costs at most a batch's
	// pages.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	return openSQLiteDB(ctx, path, pathVar, q, 4)
}

// openSQLiteReadOnly opens an existing file as it is, for reading (SQLite's
// mode=ro): no directory or file is created, no pragma changes the file,
// and no statement can write it. SQLite may still create the -wal and -shm
// files beside a WAL database, as any reader does.
func openSQLiteReadOnly(ctx context.Context, path, pathVar string) (*Ledger, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	return openSQLiteDB(ctx, path, pathVar, q, 2)
}

// openSQLiteDB opens the file at path with the URI query q, at most conns
// connections, and makes the first connection (which applies q's pragmas).
func openSQLiteDB(ctx context.Context, path, pathVar string, q url.Values, conns int) (*Ledger, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, q))
	if err != nil {
		return nil, sqliteOpenError(path, pathVar, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(time.Minute)
	if err := pingSQLite(ctx, db); err != nil {
		db.Close()
		return nil, sqliteOpenError(path, pathVar, fmt.Errorf("open: %w", err))
	}
	return &Ledger{db: db, d: sqliteDialect, where: path, pathVar: pathVar}, nil
}

// sqliteDSN is the URI of the file at path with query q, the path escaped
// so that '#', '?', '%' or a space in it name the file instead of starting
// a fragment or the query (which would open another file and drop the
// busy timeout, WAL and BEGIN IMMEDIATE). SQLite decodes %HH in a file:
// URI's path; the driver splits its own parameters at the first literal
// '?', which an escaped path no longer holds.
func sqliteDSN(path string, q url.Values) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// pingSQLite opens the first connection, which applies the pragmas. A
// process switching a fresh file to WAL while another opens it can get
// SQLITE_BUSY at once, without the busy timeout (SQLite does not wait when
// a reader would need to upgrade its lock): opening is idempotent, so it
// is tried again, for up to 10 seconds.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
