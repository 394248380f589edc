package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// sqliteLedger opens a fresh SQLite ledger (the back end with group commit).
func sqliteLedger(t *testing.T) *Ledger {
	t.Helper()
	l := open(t, Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if l.group == nil {
		t.Fatal("SQLite ledger without group commit")
	}
	return l
}

// holdWriter occupies the group-commit loop with a write that waits for the
// returned release, so that the writes started meanwhile queue up and go
// into one batch.
func holdWriter(t *testing.T, l *Ledger) (release func(), wait func() error) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- l.write(context.Background(), func(context.Context, *txn) error {
			close(started)
			<-gate
			return nil
		})
	}()
	<-started
	return func() { close(gate) }, func() error { return <-errc }
}

// TestGroupCommitIsolatesFailures: in a batch, a write that fails is rolled
// back to its savepoint (its own insert is gone) and the others commit.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := ctxT(t)
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	boom := errors.New("boom")
	var want []string
	for round := 0; !l.group.mixed.Load(); round++ {
		if round == 20 {
			t.Fatal("20 rounds and no batch held both a failed and a committed write")
		}
		release, held := holdWriter(t, l)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		queued := make(chan struct{}, n)
		for i := range n {
			wg.Go(func() {
				queued <- struct{}{}
				errs[i] = l.write(ctx, func(ctx context.Context, tx *txn) error {
					if err := a.audit(ctx, tx, Entry{Action: "test", Result: fmt.Sprintf("r%d-%d", round, i)}, 1); err != nil {
						return err
					}
					if i%2 == 1 {
						return boom // after its insert: the insert must not stay
					}
					return nil
				})
			})
		}
		for range n {
			<-queued
		}
		release()
		wg.Wait()
		if err := held(); err != nil {
			t.Fatalf("held write: %v", err)
		}
		for i, err := range errs {
			switch {
			case i%2 == 1 && !errors.Is(err, boom):
				t.Fatalf("failing write %d returned %v", i, err)
			case i%2 == 0 && err != nil:
				t.Fatalf("write %d failed: %v", i, err)
			case i%2 == 0:
				want = append(want, fmt.Sprintf("r%d-%d", round, i))
			}
		}
	}
	log, err := a.AuditLog(ctx, time.Time{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range log {
		got[e.Result] = true
	}
	for _, r := range want {
		if !got[r] {
			t.Errorf("committed write %s missing", r)
		}
	}
	if len(log) != len(want) {
		t.Errorf("%d audit entries, want the %d that did not fail: %v", len(log), len(want), got)
	}
}

// TestGroupCommitManyWriters: concurrent orders all land, in fewer commits
// than orders.
func TestGroupCommitManyWriters(t *testing.T) {
	ctx := ctxT(t)
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	before := l.group.batches.Load()
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = a.RecordOrder(ctx, NewOrder{OutTradeNo: fmt.Sprintf("G%03d", i), Kind: "web", Amount: 100, Title: "t",
				Audit: &Entry{Action: "create-web-page-alipay-payment", Result: "recorded"}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	for i := range n {
		if o, err := a.Order(ctx, fmt.Sprintf("G%03d", i)); err != nil || o.Amount != 100 {
			t.Fatalf("order %d = %+v, %v", i, o, err)
		}
	}
	log, err := a.AuditLog(ctx, time.Time{}, 1000)
	if err != nil || len(log) != n {
		t.Fatalf("audit entries = %d, %v; want %d", len(log), err, n)
	}
	if b := l.group.batches.Load() - before; b >= n {
		t.Errorf("%d commits for %d concurrent orders: no grouping", b, n)
	}
}

// TestGroupCommitCancelled: a caller that gives up before its write runs
// gets its context's error, and nothing of it is written.
func TestGroupCommitCancelled(t *testing.T) {
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	release, held := holdWriter(t, l)
	cctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- a.Audit(cctx, Entry{Action: "test", Result: "cancelled"})
	}()
	cancel()
	err := <-errc
	release()
	if err := held(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled write = %v; want context.Canceled as ErrUnavailable", err)
	}
	log, err := a.AuditLog(ctxT(t), time.Time{}, 10)
	if err != nil || len(log) != 0 {
		t.Fatalf("audit after a cancelled write = %v, %v; want none", log, err)
	}
}

// TestGroupCommitAfterClose: a write after Close fails, it does not hang.
func TestGroupCommitAfterClose(t *testing.T) {
	l, err := Open(ctxT(t), Options{Path: filepath.Join(t.TempDir(), "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	err = l.Account(app, "local").Audit(ctxT(t), Entry{Action: "test"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write after Close = %v; want ErrUnavailable", err)
	}
}
