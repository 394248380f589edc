package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a helper process (run by TestMain when
// helperEnv is set), so tests can race real OS processes on one ledger.
const helperEnv = "LEDGER_TEST_HELPER"

func runHelper() int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := Options{DatabaseURL: os.Getenv("LEDGER_TEST_URL"), Path: os.Getenv("LEDGER_TEST_PATH")}
	switch os.Getenv(helperEnv) {
	case "open":
		// Print what Open says, for tests of start-up failures.
		l, err := Open(ctx, o)
		if err != nil {
			fmt.Println(err)
			return 3
		}
		l.Close()
		fmt.Println("opened")
		return 0
	case "reserve":
		l, err := Open(ctx, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer l.Close()
		a := l.Account(app, "prod")
		// Wait for the go file so both processes start racing together.
		for _, err := os.Stat(os.Getenv("LEDGER_TEST_GO")); err != nil; _, err = os.Stat(os.Getenv("LEDGER_TEST_GO")) {
			if ctx.Err() != nil {
				return 1
			}
			time.Sleep(time.Millisecond)
		}
		passed, refused := 0, 0
		for i := range 20 {
			_, _, err := a.ReserveRefund(ctx, RefundRequest{OutTradeNo: "X", OutRequestNo: fmt.Sprintf("%s-%d", os.Getenv("LEDGER_TEST_ID"), i),
				Amount: 1000, DailyLimit: 15000})
			switch {
			case err == nil:
				passed++
			case errors.Is(err, ErrDailyLimit):
				refused++
			default:
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		fmt.Printf("passed=%d refused=%d\n", passed, refused)
		return 0
	}
	return 2
}

// helper starts the test binary as a helper process.
func helper(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	return cmd
}

func optEnv(o Options) []string {
	return []string{"LEDGER_TEST_URL=" + o.DatabaseURL, "LEDGER_TEST_PATH=" + o.Path}
}

// TestDailyLimitTwoProcesses races two OS processes, 20 refunds of 10.00
// each, under a daily limit of 150.00: exactly 15 may pass in all.
func TestDailyLimitTwoProcesses(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		o := b.fresh(t)
		open(t, o) // migrate first, so the race is the refunds'
		goFile := filepath.Join(t.TempDir(), "go")
		var outs [2]strings.Builder
		var wg sync.WaitGroup
		cmds := make([]*exec.Cmd, 2)
		for i := range cmds {
			cmds[i] = helper(t, "reserve", append(optEnv(o), "LEDGER_TEST_GO="+goFile, "LEDGER_TEST_ID=p"+strconv.Itoa(i))...)
			cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(goFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, 2)
		for i, c := range cmds {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = c.Wait() }()
		}
		wg.Wait()
		total := 0
		for i := range cmds {
			if errs[i] != nil {
				t.Fatalf("process %d: %v: %s", i, errs[i], outs[i].String())
			}
			var p, r int
			if _, err := fmt.Sscanf(strings.TrimSpace(outs[i].String()), "passed=%d refused=%d", &p, &r); err != nil || p+r != 20 {
				t.Fatalf("process %d said %q", i, outs[i].String())
			}
			total += p
		}
		if total != 15 {
			t.Fatalf("%d refunds passed in all (%s / %s); want exactly 15 under the limit of 150.00", total, outs[0].String(), outs[1].String())
		}
		// And the ledger agrees.
		refunds, err := open(t, o).Account(app, "prod").Refunds(ctxT(t), "X")
		if err != nil || len(refunds) != 15 {
			t.Fatalf("recorded refunds = %d, %v", len(refunds), err)
		}
	})
}

// TestMigrationRace opens one fresh database from several processes at once:
// every one must succeed and the schema must be created once.
func TestMigrationRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		o := b.fresh(t)
		var wg sync.WaitGroup
		outs := make([][]byte, 4)
		errs := make([]error, 4)
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = helper(t, "open", optEnv(o)...).CombinedOutput()
			}()
		}
		wg.Wait()
		for i := range outs {
			if errs[i] != nil || strings.TrimSpace(string(outs[i])) != "opened" {
				t.Fatalf("process %d: %v: %s", i, errs[i], outs[i])
			}
		}
		l := open(t, o)
		var v int
		var err error
		if b.name == "postgres" {
			err = l.db.QueryRow("SELECT version FROM ap_schema").Scan(&v)
		} else {
			err = l.db.QueryRow("PRAGMA user_version").Scan(&v)
		}
		if err != nil || v != SchemaVersion {
			t.Fatalf("schema version %d, %v", v, err)
		}
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		o := b.fresh(t)
		l := open(t, o)
		q := "PRAGMA user_version = 99"
		if b.name == "postgres" {
			q = "UPDATE ap_schema SET version = 99"
		}
		if _, err := l.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, o)
		var oe *OpenError
		if !errors.Is(err, ErrNewerSchema) || !errors.As(err, &oe) {
			t.Fatalf("Open of a newer schema = %v", err)
		}
		for _, want := range []string{"v99", "升级", "upgrade", "newer"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %q", err, want)
			}
		}
		// One line: the place once, both versions, no "unavailable", one fix.
		msg := err.Error()
		where := o.Path
		if b.name == "postgres" {
			where = "AP_DATABASE_URL="
		}
		if strings.Count(msg, where) != 1 || strings.Contains(msg, "unavailable") || strings.Count(msg, "upgrade") != 1 ||
			!strings.Contains(msg, fmt.Sprintf("v%d", SchemaVersion)) {
			t.Errorf("message %q: want the place once, v99 and v%d, one upgrade advice, no 'unavailable'", msg, SchemaVersion)
		}
	})
}

// TestOpenErrors: each way the ledger cannot be opened gives one line naming
// where and what to do, without the password.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("this is not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked")
	if err := os.MkdirAll(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		o    Options
		want []string
	}{
		{"corrupt file", Options{Path: corrupt}, []string{corrupt, "已损坏", "damaged", "backup"}},
		{"permissions", Options{Path: filepath.Join(locked, "sub", "ledger.db")}, []string{locked, "权限", "permission", "readable and writable"}},
	}
	if cluster != nil {
		free, _ := pgFreePort()
		cases = append(cases,
			struct {
				name string
				o    Options
				want []string
			}{"PostgreSQL unreachable", Options{DatabaseURL: fmt.Sprintf("postgres://u:secret-pw@127.0.0.1:%d/db?connect_timeout=5", free)},
				[]string{"AP_DATABASE_URL=postgres://u:xxxxx@127.0.0.1", "无法连接", "unreachable", "host and port"}},
			struct {
				name string
				o    Options
				want []string
			}{"bad credentials", Options{DatabaseURL: strings.Replace(cluster.URL("postgres"), ":ledger-test-password@", ":secret-pw@", 1)},
				[]string{"AP_DATABASE_URL=postgres://ledger:xxxxx@", "密码错误", "authentication failed", "user and password"}},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := helper(t, "open", optEnv(c.o)...)
			if c.name == "permissions" {
				locked := locked
				// A real permission failure: the directory is 0700 and the
				// helper runs as another user (root ignores modes).
				if os.Geteuid() == 0 {
					u, err := user.Lookup("nobody")
					if err != nil {
						t.Skip("no nobody user")
					}
					uid, _ := strconv.Atoi(u.Uid)
					gid, _ := strconv.Atoi(u.Gid)
					// t.TempDir's parent is private to root, so nobody would
					// fail on it, not on the ledger's directory: use /tmp.
					top, err := os.MkdirTemp("", "ledger-perm-")
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { os.RemoveAll(top) })
					if err := os.Chmod(top, 0o755); err != nil {
						t.Fatal(err)
					}
					locked = filepath.Join(top, "locked")
					if err := os.Mkdir(locked, 0o700); err != nil {
						t.Fatal(err)
					}
					c.o.Path = filepath.Join(locked, "sub", "ledger.db")
					c.want[0] = locked
					// The test binary sits in a private build directory too.
					bin := filepath.Join(top, "ledger.test")
					exe, err := os.ReadFile(os.Args[0])
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(bin, exe, 0o755); err != nil {
						t.Fatal(err)
					}
					cmd = helper(t, "open", optEnv(c.o)...)
					cmd.Path, cmd.Args[0] = bin, bin
					cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
				} else if err := os.Chmod(locked, 0o500); err != nil {
					t.Fatal(err)
				}
			}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("helper: %v: %s", err, out)
			}
			msg := strings.TrimSpace(string(out))
			t.Log(msg)
			if strings.Count(msg, "\n") != 0 || strings.Contains(msg, "secret-pw") {
				t.Fatalf("want one line without the password, got %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
		})
	}
}

func pgFreePort() (int, error) {
	return freeTCPPort()
}
