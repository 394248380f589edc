package ledger

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/pgtest"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(pgtest.Main(m, &cluster))
}

// backend is one implementation the shared suite runs on.
type backend struct {
	name string
	// fresh returns Options for an empty ledger of this back end.
	fresh func(t *testing.T) Options
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) Options {
			return Options{Path: filepath.Join(t.TempDir(), "ledger.db")}
		}},
		{"postgres", func(t *testing.T) Options {
			t.Helper()
			pgtest.Skip(t, cluster)
			u, err := cluster.NewDatabase(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return Options{DatabaseURL: u}
		}},
	}
}

// eachBackend runs fn once per back end, as subtests named for it.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// open opens a ledger and closes it when the test ends.
func open(t *testing.T, o Options) *Ledger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// clock is a settable time for tests of leases, days and retries.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
