package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled means no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("未找到 PostgreSQL 服务程序 (initdb, postgres), 请安装 Debian 的 postgresql 包 (apt-get install -y postgresql) / PostgreSQL server binaries (initdb, postgres) not found; install Debian's postgresql package (apt-get install -y postgresql)")

// User and Password are the role every database NewDatabase creates is owned
// by. The cluster asks TCP clients for a password (SCRAM), so wrong
// credentials fail as they would in production.
const (
	User     = "ledger"
	Password = "ledger-test-password"
)

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	Port    int    // loopback TCP port
	SockDir string // directory of the Unix socket
	dir     string
	cmd     *exec.Cmd
	done    chan struct{}
	n       atomic.Int64
}

// BinDir finds the directory holding initdb and postgres: $PGTEST_BINDIR,
// else the newest /usr/lib/postgresql/<version>/bin, else $PATH.
func BinDir() (string, error) {
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start initialises and starts a cluster in a new temporary directory. As
// root, the cluster runs as the postgres user (initdb refuses root).
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, SockDir: dir}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	cred, err := credential(dir)
	if err != nil {
		return nil, err
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pw, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile="+pw,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		err = c.startServer(ctx, bin, data, port, cred)
		if err == nil {
			break
		}
		if attempt == 2 {
			return nil, err
		}
	}
	conn, err := pgx.Connect(ctx, c.adminURL("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", User, Password)); err != nil {
		return nil, fmt.Errorf("create role: %w", err)
	}
	ok = true
	return c, nil
}

func (c *Cluster) startServer(ctx context.Context, bin, data string, port int, cred *syscall.Credential) error {
	logf, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("postgres-%d.log", port)))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", c.SockDir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr(cred)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	c.Port, c.cmd, c.done = port, cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.adminURL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logf.Name())
			c.cmd, c.done = nil, nil
			return fmt.Errorf("postgres exited: %s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 30 s: %w", err)
		}
	}
}

// adminURL connects as the superuser over the Unix socket (trusted).
func (c *Cluster) adminURL(db string) string {
	return fmt.Sprintf("postgres:///%s?host=%s&port=%d&user=postgres&sslmode=disable", db, url.QueryEscape(c.SockDir), c.Port)
}

// URL is the TCP URL of database db as User with Password.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", User, Password, c.Port, db)
}

// NewDatabase creates an empty database owned by User and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.n.Add(1))
	conn, err := pgx.Connect(ctx, c.adminURL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s TEMPLATE template0", name, User)); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return c.URL(name), nil
}

// Exec runs sql as the superuser in database db, for tests that break
// things on purpose.
func (c *Cluster) Exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, c.adminURL(db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down (fast shutdown, then kill) and removes its
// directory.
func (c *Cluster) Stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
	}
	os.RemoveAll(c.dir)
}

// Required reports whether a missing PostgreSQL must fail the tests: under
// CI=true it must.
func Required() bool { return os.Getenv("CI") == "true" }

// Main runs m with a cluster in *c, started once for the package. Without
// PostgreSQL it leaves *c nil and runs the tests (which then skip their
// PostgreSQL cases), unless Required, when it fails.
func Main(m *testing.M, c **Cluster) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cl, err := Start(ctx)
	cancel()
	if err != nil {
		if Required() || !errors.Is(err, ErrNotInstalled) {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "pgtest: PostgreSQL cases skip:", err)
	}
	*c = cl
	code := m.Run()
	if cl != nil {
		cl.Stop()
	}
	return code
}

// credential returns the postgres user's credential when running as root,
// after giving it dir; nil otherwise.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user (from the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Skip skips t when no cluster runs (never under CI=true: Main fails first).
func Skip(t testing.TB, c *Cluster) {
	t.Helper()
	if c == nil {
		t.Skip("PostgreSQL not installed (apt-get install -y postgresql); CI=true makes this a failure")
	}
}

// Database starts a throwaway cluster for t alone (stopped when t ends) and
// returns the URL of a fresh database in it. Without PostgreSQL installed t
// is skipped, except under CI=true; any other failure fails t.
func Database(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	c, err := Start(ctx)
	if err != nil {
		if Required() || !errors.Is(err, ErrNotInstalled) {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skip(err)
	}
	t.Cleanup(c.Stop)
	u, err := c.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
