package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// FileName is the SQLite file inside the data directory.
const FileName = "ledger.db"

// Options say where the ledger lives.
type Options struct {
	// DatabaseURL (AP_DATABASE_URL), when it starts with postgres:// or
	// postgresql://, selects PostgreSQL; otherwise the ledger is SQLite.
	DatabaseURL string
	// Path is the SQLite file; empty means DefaultPath().
	Path string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NoMigrate opens only a ledger that is there and at SchemaVersion, as
	// it is and read-only, for a command that reads it (orders): a newer
	// binary must not migrate a database that running servers of the older
	// one share. A missing SQLite file, a database without the ledger's
	// tables, or another schema version is an *OpenError; any write through
	// the ledger fails.
	NoMigrate bool
}

// DefaultPath is $XDG_DATA_HOME/mcp-server-alipay/ledger.db, or
// ~/.local/share/mcp-server-alipay/ledger.db: the server's own data
// directory, apart from the local Alipay's (…/mcp-server-alipay/local).
func DefaultPath() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("找不到主目录 / no home directory for the ledger: %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "mcp-server-alipay", FileName), nil
}

// sqlitePath is the SQLite file o names, and the variable that chose it
// (for the advice of an error).
func (o Options) sqlitePath() (path, pathVar string, err error) {
	if o.Path != "" {
		return o.Path, "AP_DATABASE_URL", nil
	}
	if path, err = DefaultPath(); err != nil {
		return "", "", &OpenError{Where: "AP_DATABASE_URL", Err: err}
	}
	return path, "XDG_DATA_HOME", nil
}

// IsPostgres reports whether a database URL selects PostgreSQL.
func IsPostgres(databaseURL string) bool {
	u := strings.ToLower(strings.TrimSpace(databaseURL))
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Ledger is an open ledger. Its methods are safe for concurrent use, and
// several processes may share one database.
type Ledger struct {
	db *sql.DB
	// stmts are the SQLite statements of the frequent writes (a new order
	// and its audit entry), query text → *sql.Stmt, prepared at Open:
	// database/sql keeps each prepared once per connection, so they are not
	// parsed again per call.
	stmts   sync.Map
	group   *groupCommit // SQLite's writes once open; nil on PostgreSQL
	d       dialect
	where   string // the file, or the URL with its password redacted
	pathVar string // SQLite: the variable that chose the file
	now     func() time.Time
	hub     hub

	pgURL      string
	listenOnce sync.Once
	listenErr  error
	stop       context.CancelFunc
	stopped    chan struct{}
}

// Open opens the ledger and migrates its schema. Its errors are *OpenError:
// one line naming the file or the URL and what to do.
func Open(ctx context.Context, o Options) (*Ledger, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	var l *Ledger
	var err error
	switch {
	case IsPostgres(o.DatabaseURL):
		l, err = openPostgres(ctx, o.DatabaseURL, o.NoMigrate)
	default:
		path, pathVar, perr := o.sqlitePath()
		if perr != nil {
			return nil, perr
		}
		if !o.NoMigrate {
			l, err = openSQLite(ctx, path, pathVar)
			break
		}
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			return nil, &OpenError{Where: path, Problem: "没有账本 / no ledger there",
				Fix: "检查 " + pathVar + ", 或先启动一次服务器 / check " + pathVar + ", or start the server once first"}
		}
		l, err = openSQLiteReadOnly(ctx, path, pathVar)
	}
	if err != nil {
		return nil, err
	}
	l.now = now
	l.hub.subs = map[chan Event]struct{}{}
	if o.NoMigrate {
		err = l.schemaIsCurrent(ctx)
	} else {
		err = l.migrate(ctx)
	}
	var oe *OpenError
	switch {
	case errors.As(err, &oe):
		l.db.Close()
		return nil, oe
	case err != nil:
		l.db.Close()
		return nil, l.openError(err)
	}
	if l.d.name == "sqlite" && !o.NoMigrate {
		// Prepared now, while no transaction holds a connection: a
		// transaction that prepared on the pool could wait for a
		// connection held by writers queued behind its own lock.
		for _, q := range []string{insertOrder, insertAudit} {
			st, err := l.db.PrepareContext(ctx, q)
			if err != nil {
				l.Close()
				return nil, l.openError(err)
			}
			l.stmts.Store(q, st)
		}
		l.group = startGroupCommit(l)
	}
	return l, nil
}

// Where names the ledger for messages: the SQLite file, or the PostgreSQL URL
// with its password redacted.
func (l *Ledger) Where() string { return l.where }

// Backend is "sqlite" or "postgres".
func (l *Ledger) Backend() string { return l.d.name }

// Close stops the event listener and closes the database.
func (l *Ledger) Close() error {
	l.group.close()
	if l.stop != nil {
		l.stop()
		<-l.stopped
	}
	l.hub.closeAll()
	l.stmts.Range(func(_, s any) bool { s.(*sql.Stmt).Close(); return true })
	return l.db.Close()
}

// Ping checks that the database answers.
func (l *Ledger) Ping(ctx context.Context) error {
	if err := l.db.PingContext(ctx); err != nil {
		return l.unavailable(err)
	}
	return nil
}

// Ready is a readiness check: the database answers, and its schema is the
// one this binary writes. A process of a newer version sharing the database
// may have migrated it since this one opened it (NewerSchemaError); an
// older schema means it was put back (an old backup restored) under a
// running process. Either way this process must not serve from it.
func (l *Ledger) Ready(ctx context.Context) error {
	var v int
	if err := l.db.QueryRowContext(ctx, l.d.schemaQuery).Scan(&v); err != nil {
		return l.unavailable(err)
	}
	switch {
	case v > SchemaVersion:
		return &NewerSchemaError{Have: v, Supported: SchemaVersion}
	case v < SchemaVersion:
		return fmt.Errorf("账本结构版本 v%d 比本程序写入的 v%d 旧 (是否还原了旧备份?), 请重启本程序以迁移 / "+
			"the ledger's schema v%d is older than the v%d this binary wrote (an old backup restored?); restart this process to migrate it",
			v, SchemaVersion, v, SchemaVersion)
	}
	return nil
}

// ErrUnavailable is wrapped by every error of a ledger that cannot be read or
// written mid-run; callers that move money or create orders stop on it.
var ErrUnavailable = errors.New("账本不可用 / the ledger is unavailable")

func (l *Ledger) unavailable(err error) error {
	if err == nil {
		return nil
	}
	var known *knownError
	if errors.As(err, &known) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w (%s): %w", ErrUnavailable, l.where, err)
}

// knownError marks the ledger's own refusals (limits, conflicts) so they are
// not reported as the database failing.
type knownError struct{ error }

func (k *knownError) Unwrap() error { return k.error }

// Account is the part of the ledger belonging to one app id in one
// environment: local, sandbox and prod never mix.
type Account struct {
	l     *Ledger
	AppID string
	Env   string
}

// Account returns the records of appID in env.
func (l *Ledger) Account(appID, env string) *Account {
	return &Account{l: l, AppID: appID, Env: env}
}

// Ledger returns the ledger the account lives in.
func (a *Account) Ledger() *Ledger { return a.l }

// txn is a write transaction that collects the events to publish once it
// commits.
type txn struct {
	*sql.Tx
	l      *Ledger
	events []Event
}

// stmt is query for this transaction when the ledger keeps it prepared
// (on SQLite, the statements of the frequent writes; database/sql prepares
// each once per connection, on this transaction's), nil otherwise: then the
// caller runs the query text (PostgreSQL's driver caches statements itself).
func (t *txn) stmt(ctx context.Context, query string) *sql.Stmt {
	s, ok := t.l.stmts.Load(query)
	if !ok {
		return nil
	}
	return t.StmtContext(ctx, s.(*sql.Stmt))
}

// ExecContext runs query in the transaction, on its prepared statement
// when the ledger keeps one.
func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// QueryRowContext is ExecContext's counterpart for a query returning a row.
func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// write runs fn in a write transaction (SQLite: BEGIN IMMEDIATE, so writers
// queue; PostgreSQL: READ COMMITTED plus the row or advisory locks fn takes)
// and publishes fn's events after the commit. fn runs its statements with
// the ctx it is given.
//
// On SQLite the writes of concurrent callers share one transaction (group
// commit, see groupCommit); each still succeeds or fails alone, and write
// returns only once its own outcome is committed or rolled back.
func (l *Ledger) write(ctx context.Context, fn func(context.Context, *txn) error) error {
	if l.group != nil {
		return l.group.write(ctx, fn)
	}
	return l.writeOne(ctx, fn)
}

// writeOne runs fn in a transaction of its own. If fn panics, the
// transaction is rolled back and the panic becomes an ErrUnavailable error
// (errWritePanicked): nothing of it is kept and nothing is reported done.
func (l *Ledger) writeOne(ctx context.Context, fn func(context.Context, *txn) error) (err error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.unavailable(fmt.Errorf("开始事务 / begin: %w", err))
	}
	committed := false
	defer func() {
		// After the commit the write stands, whatever panicked after it.
		if p := recover(); p != nil && !committed {
			_ = tx.Rollback()
			err = l.unavailable(panicError(p))
		}
	}()
	t := &txn{Tx: tx, l: l}
	if err := fn(ctx, t); err != nil {
		_ = tx.Rollback()
		return l.unavailable(err)
	}
	if err := l.d.notify(ctx, tx, t.events); err != nil {
		_ = tx.Rollback()
		return l.unavailable(err)
	}
	if err := tx.Commit(); err != nil {
		return l.unavailable(fmt.Errorf("提交 / commit: %w", err))
	}
	committed = true
	if l.d.localEvents {
		for _, e := range t.events {
			l.hub.publish(e)
		}
	}
	return nil
}

// exec runs one writing statement. On SQLite it goes through the group
// commit like every other write (a write of its own would wait on SQLite's
// busy handler while the group keeps taking the write lock); on PostgreSQL
// it is one statement in autocommit, one round trip.
func (l *Ledger) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if l.group == nil {
		return l.db.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err := l.write(ctx, func(ctx context.Context, tx *txn) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// queryRow runs one writing statement that returns a row (RETURNING) and
// scans it into dest, like exec. A statement that returns no row (ON
// CONFLICT DO NOTHING) gives sql.ErrNoRows and is no failed write.
func (l *Ledger) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	if l.group == nil {
		return l.db.QueryRowContext(ctx, query, args...).Scan(dest...)
	}
	var noRows bool
	err := l.write(ctx, func(ctx context.Context, tx *txn) error {
		err := tx.QueryRowContext(ctx, query, args...).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			noRows = true
			return nil
		}
		return err
	})
	if err == nil && noRows {
		return sql.ErrNoRows
	}
	return err
}

// errWritePanicked is wrapped (with ErrUnavailable) by the error of every
// write whose transaction was rolled back because a write in it panicked.
var errWritePanicked = errors.New("账本写入时发生 panic, 已回滚 / a ledger write panicked and was rolled back")

// panicError is the error for a recovered panic value p. It names a runtime
// error (nil map, index out of range: no data in them) but of any other
// value only its type, so that nothing a write held reaches a message.
func panicError(p any) error {
	if re, ok := p.(runtime.Error); ok {
		return fmt.Errorf("%w: %v", errWritePanicked, re)
	}
	return fmt.Errorf("%w: %T", errWritePanicked, p)
}

// dialect holds what differs between the back ends.
type dialect struct {
	name             string
	idColumn, bigint string
	appendOnly       string
	forUpdate        string // row lock suffix of a SELECT; "" on SQLite (the write lock covers it)
	skipLocked       string
	localEvents      bool // publish in process (SQLite) rather than by NOTIFY
	schemaVersion    func(context.Context, *sql.Tx) (int, error)
	schemaQuery      string // reads the schema version, without locks
	setSchemaVersion func(context.Context, *sql.Tx, int) error
	// lock takes a transaction-scoped lock on key (PostgreSQL advisory lock;
	// SQLite's write transaction already excludes every other writer).
	lock   func(ctx context.Context, tx *sql.Tx, key string) error
	notify func(ctx context.Context, tx *sql.Tx, events []Event) error
}

// redactURL hides the password of a database URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "AP_DATABASE_URL (unparsable, not shown)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	changed := false
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
