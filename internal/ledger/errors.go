package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenError says why the ledger could not be opened, where, and what to do,
// in one line.
type OpenError struct {
	Where   string // the file, or AP_DATABASE_URL with its password redacted
	Problem string // bilingual: what is wrong
	Fix     string // bilingual: what to do
	Err     error
}

func (e *OpenError) Error() string {
	s := fmt.Sprintf("无法打开账本 / cannot open the ledger %s", e.Where)
	if e.Problem != "" {
		s += ": " + e.Problem
	}
	if e.Fix != "" {
		s += "; " + e.Fix
	}
	if e.Err != nil && e.Problem == "" {
		s += ": " + oneLine(e.Err.Error())
	}
	return s
}

func (e *OpenError) Unwrap() error { return e.Err }

// openError classifies err into an *OpenError for l.
func (l *Ledger) openError(err error) error {
	if l.d.name == "postgres" {
		return pgOpenError(l.where, err)
	}
	return sqliteOpenError(l.where, l.pathVar, err)
}

// shownWhere names the ledger in an *OpenError as openError does: the
// SQLite file, or AP_DATABASE_URL with its password redacted.
func (l *Ledger) shownWhere() string {
	if l.d.name == "postgres" {
		return pgWhere(l.where)
	}
	return l.where
}

func sqliteOpenError(where, pathVar string, err error) error {
	e := &OpenError{Where: where, Err: err}
	var se *sqlite.Error
	var ns *NewerSchemaError
	switch {
	case errors.As(err, &ns):
		e.Problem = ns.Error()
		e.Fix = "请升级 mcp-server-alipay, 或为旧版本另设 AP_DATABASE_URL / upgrade mcp-server-alipay, or point this older binary at another ledger"
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EROFS) ||
		(errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_PERM || se.Code()&0xff == sqlite3.SQLITE_READONLY || se.Code()&0xff == sqlite3.SQLITE_CANTOPEN)):
		e.Problem = "没有读写权限 / permission denied"
		e.Fix = fmt.Sprintf("请让运行服务器的用户可以读写该文件及其目录 (chmod/chown), 或把 %s 指向别处 / make the file and its directory readable and writable by the user running the server, or point %s elsewhere", pathVar, pathVar)
	case errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_NOTADB || se.Code()&0xff == sqlite3.SQLITE_CORRUPT):
		e.Problem = "文件不是 SQLite 数据库或已损坏 / the file is not a SQLite database or is damaged"
		e.Fix = "请从备份恢复, 或将其移走后重启 (将新建空账本) / restore it from a backup, or move it aside and restart to start an empty ledger"
	}
	return e
}

// pgWhere is how an error names a PostgreSQL ledger: its redacted URL,
// with the variable that set it.
func pgWhere(where string) string { return "AP_DATABASE_URL=" + where }

func pgOpenError(where string, err error) error {
	e := &OpenError{Where: pgWhere(where), Err: err}
	var pe *pgconn.PgError
	var ne net.Error
	var ns *NewerSchemaError
	switch {
	case errors.As(err, &ns):
		e.Problem = ns.Error()
		e.Fix = "请升级共用该数据库的每个 mcp-server-alipay / upgrade every mcp-server-alipay sharing this database"
	case errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000"):
		e.Problem = "用户名或密码错误 / authentication failed (" + pe.Code + ")"
		e.Fix = "请检查 AP_DATABASE_URL 中的用户名和密码 / check the user and password in AP_DATABASE_URL"
	case errors.As(err, &pe) && pe.Code == "3D000":
		e.Problem = "数据库不存在 / the database does not exist"
		e.Fix = "请先创建该数据库 (createdb) / create it first (createdb)"
	case errors.As(err, &pe) && strings.HasPrefix(pe.Code, "42") && pe.Code == "42501":
		e.Problem = "没有建表权限 / permission denied to create the ledger's tables"
		e.Fix = "请授予该用户在数据库中建表的权限 / grant the user CREATE on the database's schema"
	case errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &ne) || isConnectError(err):
		e.Problem = "无法连接 PostgreSQL / PostgreSQL is unreachable"
		e.Fix = "请检查主机、端口以及服务器是否在运行 / check the host and port and that the server is running"
	}
	return e
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		var pe *pgconn.PgError
		return !errors.As(err, &pe)
	}
	return false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
