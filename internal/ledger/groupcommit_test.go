package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
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
		errs := queueWrites(t, l, 16, func(i int) func(context.Context, *txn) error {
			return func(ctx context.Context, tx *txn) error {
				if err := a.audit(ctx, tx.ExecContext, Entry{Action: "test", Result: fmt.Sprintf("r%d-%d", round, i)}, 1); err != nil {
					return err
				}
				if i%2 == 1 {
					return boom // after its insert: the insert must not stay
				}
				return nil
			}
		})
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

// queueWrites starts n writes of fn(i) while the group loop is held, waits
// until each goroutine is about to hand its write over, and then releases
// the loop, so that the writes (mostly) go into one batch. It returns each
// write's error.
func queueWrites(t *testing.T, l *Ledger, n int, fn func(i int) func(context.Context, *txn) error) []error {
	t.Helper()
	release, held := holdWriter(t, l)
	var wg sync.WaitGroup
	errs := make([]error, n)
	queued := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() {
			queued <- struct{}{}
			errs[i] = l.write(context.Background(), fn(i))
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
	return errs
}

// auditResults are the Result fields of the account's audit log.
func auditResults(t *testing.T, a *Account) map[string]bool {
	t.Helper()
	log, err := a.AuditLog(ctxT(t), time.Time{}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range log {
		got[e.Result] = true
	}
	return got
}

// TestGroupCommitPanic: a write that panics in a batch fails alone, like
// one that returns an error: ErrUnavailable for it, rolled back to its
// savepoint (nothing of it kept, none of its events published), and the
// other writes of its batch committed; the loop carries on serving. Alone
// (the single-write path) it fails the same way.
func TestGroupCommitPanic(t *testing.T) {
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	ch, err := l.Subscribe(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for round := 0; !l.group.mixed.Load(); round++ {
		if round == 20 {
			t.Fatal("20 rounds and no batch held the panicking write with another")
		}
		const n = 8
		errs := queueWrites(t, l, n, func(i int) func(context.Context, *txn) error {
			return func(ctx context.Context, tx *txn) error {
				r := fmt.Sprintf("p%d-%d", round, i)
				if err := a.audit(ctx, tx.ExecContext, Entry{Action: "test", Result: r}, 1); err != nil {
					return err
				}
				tx.events = append(tx.events, Event{Kind: EventPaid, AppID: app, Env: "local", OutTradeNo: r})
				if i == n/2 {
					var m map[string]int
					m[r]++ // a nil map: a bug's runtime panic
				}
				return nil
			}
		})
		for i, err := range errs {
			switch {
			case i != n/2 && err != nil:
				t.Fatalf("write %d failed beside the panicking one: %v; want it committed", i, err)
			case i != n/2:
				want = append(want, fmt.Sprintf("p%d-%d", round, i))
			case err == nil:
				t.Fatalf("the panicking write returned no error")
			case !errors.Is(err, ErrUnavailable) || !errors.Is(err, errWritePanicked):
				t.Fatalf("write %d = %v; want ErrUnavailable and the panic", i, err)
			case !strings.Contains(err.Error(), "发生 panic, 已回滚 / a ledger write panicked"):
				t.Errorf("write %d error %q: want the bilingual panic message", i, err)
			}
		}
	}
	// Alone: the single-write path.
	err = l.write(ctxT(t), func(ctx context.Context, tx *txn) error {
		if err := a.audit(ctx, tx.ExecContext, Entry{Action: "test", Result: "alone"}, 1); err != nil {
			return err
		}
		panic("a secret-looking value")
	})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errWritePanicked) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("a panicking write alone = %v; want ErrUnavailable and the panic, without the panic's value", err)
	}
	// The ledger still works, and holds exactly the writes that succeeded.
	if err := a.Audit(ctxT(t), Entry{Action: "test", Result: "after"}); err != nil {
		t.Fatalf("a write after the panics: %v", err)
	}
	want = append(want, "after")
	got := auditResults(t, a)
	for _, r := range want {
		if !got[r] {
			t.Errorf("committed write %s missing", r)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d audit entries, want the %d that succeeded: %v", len(got), len(want), got)
	}
	// Events: only of the writes that succeeded (all published before
	// their writers returned).
	published := publishedOrders(ch)
	for r := range published {
		if !got[r] {
			t.Errorf("event published for %s, whose write was not committed", r)
		}
	}
	if len(published) != len(want)-1 {
		t.Errorf("%d events, want %d (one per committed write)", len(published), len(want)-1)
	}
}

// TestGroupCommitFailedWriteNoEvent: in a batch holding writes that fail
// and writes that commit, only the committed ones' events are published.
func TestGroupCommitFailedWriteNoEvent(t *testing.T) {
	l := sqliteLedger(t)
	ch, err := l.Subscribe(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	want := map[string]bool{}
	for round := 0; !l.group.mixed.Load(); round++ {
		if round == 20 {
			t.Fatal("20 rounds and no batch held both a failed and a committed write")
		}
		errs := queueWrites(t, l, 16, func(i int) func(context.Context, *txn) error {
			return func(ctx context.Context, tx *txn) error {
				tx.events = append(tx.events, Event{Kind: EventPaid, AppID: app, Env: "local", OutTradeNo: fmt.Sprintf("e%d-%d", round, i)})
				if i%2 == 1 {
					return boom // after its event was queued: it must not be published
				}
				return nil
			}
		})
		for i, err := range errs {
			switch {
			case i%2 == 1 && !errors.Is(err, boom):
				t.Fatalf("failing write %d returned %v", i, err)
			case i%2 == 0 && err != nil:
				t.Fatalf("write %d failed: %v", i, err)
			case i%2 == 0:
				want[fmt.Sprintf("e%d-%d", round, i)] = true
			}
		}
	}
	got := publishedOrders(ch)
	for r := range got {
		if !want[r] {
			t.Errorf("event %s published for a write that failed", r)
		}
	}
	for r := range want {
		if !got[r] {
			t.Errorf("event %s of a committed write not published", r)
		}
	}
}

// endedCtx is a context that has ended (Err) but whose Done channel never
// fires: a caller whose context ends after the loop took its write and
// before the write started.
type endedCtx struct{ context.Context }

func (endedCtx) Err() error { return context.Canceled }

// TestGroupCommitEndedBeforeStart: a write whose caller's context ended
// before the write started gets the context's error and writes nothing,
// alone (the single-write path) or in a batch.
func TestGroupCommitEndedBeforeStart(t *testing.T) {
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	ended := endedCtx{context.Background()}
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: write = %v; want context.Canceled as ErrUnavailable", name, err)
		}
	}
	check("alone", a.Audit(ended, Entry{Action: "test", Result: "alone"}))
	release, held := holdWriter(t, l)
	errc := make(chan error, 1)
	go func() { errc <- a.Audit(ended, Entry{Action: "test", Result: "batched"}) }()
	other := make(chan error, 1)
	go func() { other <- a.Audit(ctxT(t), Entry{Action: "test", Result: "other"}) }()
	release()
	if err := held(); err != nil {
		t.Fatal(err)
	}
	check("batched", <-errc)
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if got := auditResults(t, a); got["alone"] || got["batched"] || !got["other"] {
		t.Fatalf("audit = %v; want only the write whose context had not ended", got)
	}
}

// TestGroupCommitCloseWithQueuedWrites: Close while writes are queued ends
// each of them, committed or ErrUnavailable, and none hangs; what reported
// success is in the ledger and nothing else is.
func TestGroupCommitCloseWithQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctxT(t), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	a := l.Account(app, "local")
	release, held := holdWriter(t, l)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	queued := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() {
			queued <- struct{}{}
			errs[i] = a.Audit(context.Background(), Entry{Action: "test", Result: fmt.Sprintf("q%d", i)})
		})
	}
	for range n {
		<-queued
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	// Close has begun (the loop is told to stop) while the writes queue.
	select {
	case <-l.group.stop:
	case <-ctxT(t).Done():
		t.Fatal("Close never began")
	}
	release()
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-ctxT(t).Done():
		t.Fatal("queued writes hang after Close")
	}
	select {
	case <-closed:
	case <-ctxT(t).Done():
		t.Fatal("Close hangs")
	}
	if err := held(); err != nil {
		t.Fatal(err)
	}
	got := auditResults(t, open(t, Options{Path: path}).Account(app, "local"))
	for i, err := range errs {
		r := fmt.Sprintf("q%d", i)
		switch {
		case err == nil && !got[r]:
			t.Errorf("write %d reported committed but is not in the ledger", i)
		case err != nil && !errors.Is(err, ErrUnavailable):
			t.Errorf("write %d = %v; want committed or ErrUnavailable", i, err)
		case err != nil && got[r]:
			t.Errorf("write %d failed (%v) but is in the ledger", i, err)
		}
	}
}

// TestSQLiteWritesGoThroughGroup: on SQLite every write goes through the
// group commit; none takes the write lock on its own, where it would wait
// on SQLite's busy handler (up to the busy timeout, then SQLITE_BUSY)
// while the group keeps taking the lock. Each operation moves the group's
// write count by exactly its statements.
func TestSQLiteWritesGoThroughGroup(t *testing.T) {
	ctx := ctxT(t)
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	now := time.Now()
	for _, tc := range []struct {
		name   string
		writes int64 // statements through the group
		op     func() error
	}{
		{"RecordOrder", 1, func() error {
			_, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: "W1", Kind: "web", Amount: 100, Title: "t", PayableUntil: now})
			return err
		}},
		{"RecordOrder again, payable later", 2, func() error {
			_, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: "W1", Kind: "web", Amount: 100, Title: "t", PayableUntil: now.Add(time.Hour)})
			return err
		}},
		{"MarkClosed", 1, func() error { _, err := a.MarkClosed(ctx, "W2", now, "test"); return err }},
		{"RecordOrder of a closed external order (title kept)", 2, func() error {
			_, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: "W2", Kind: "web", Amount: 0, Title: "t"})
			if errors.Is(err, ErrOrderFinal) {
				return nil
			}
			return fmt.Errorf("want ErrOrderFinal, got %v", err)
		}},
		{"RecordNotification", 1, func() error {
			_, err := a.RecordNotification(ctx, Notification{NotifyID: "n1", OutTradeNo: "W1", Params: map[string]string{"a": "b"}, Verified: true})
			return err
		}},
		{"pruneRejected", 1, func() error { return a.pruneRejected(ctx) }},
		{"AckEvent", 1, func() error { return l.AckEvent(ctx, 1) }},
		{"FailEvent", 1, func() error { return l.FailEvent(ctx, 1, "o", now, "x") }},
		{"AcquireLease", 1, func() error { _, err := a.AcquireLease(ctx, "x", "h", time.Minute); return err }},
		{"ReleaseLease", 1, func() error { return a.ReleaseLease(ctx, "x", "h") }},
		{"Prune", 2, func() error { _, err := l.Prune(ctx, time.Hour); return err }},
		{"PinSeller", 1, func() error { _, err := a.PinSeller(ctx, "2088000000000001"); return err }},
	} {
		before := l.group.writes.Load()
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d := l.group.writes.Load() - before; d != tc.writes {
			t.Errorf("%s: %d writes through the group, want %d", tc.name, d, tc.writes)
		}
	}
}

// TestSQLiteWritesUnderLoad: with many writers keeping the group busy, a
// notification is recorded and a seller pinned, without error, through the
// group (its write count moves past the writers').
func TestSQLiteWritesUnderLoad(t *testing.T) {
	ctx := ctxT(t)
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var orders sync.Map
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				no := fmt.Sprintf("L%d-%d", w, i)
				if _, _, err := a.RecordOrder(ctx, NewOrder{OutTradeNo: no, Kind: "web", Amount: 1, Title: "t"}); err != nil {
					t.Errorf("order %s: %v", no, err)
					return
				}
				orders.Store(no, true)
			}
		})
	}
	for i := range 20 {
		if _, err := a.RecordNotification(ctx, Notification{NotifyID: fmt.Sprintf("n%d", i), OutTradeNo: "x", Params: map[string]string{}, Verified: true}); err != nil {
			t.Errorf("RecordNotification under load: %v", err)
		}
		if _, err := a.PinSeller(ctx, "2088000000000001"); err != nil {
			t.Errorf("PinSeller under load: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	var n int64
	orders.Range(func(any, any) bool { n++; return true })
	if w := l.group.writes.Load(); w < n+40 {
		t.Errorf("%d writes through the group for %d orders, 20 notifications and 20 pins", w, n)
	}
}

// publishedOrders takes every event already waiting on ch and returns the
// orders they name.
func publishedOrders(ch <-chan Event) map[string]bool {
	out := map[string]bool{}
	for {
		select {
		case e := <-ch:
			out[e.OutTradeNo] = true
		default:
			return out
		}
	}
}

// TestGroupCommitWaitsForReadyWriters: writers that are ready to run join
// the batch of the write that opened it. On one processor nothing runs
// beside the batch loop unless it yields: without its yield every write
// would be a batch of its own.
func TestGroupCommitWaitsForReadyWriters(t *testing.T) {
	ctx := ctxT(t)
	l := sqliteLedger(t)
	a := l.Account(app, "local")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	before := l.group.batches.Load()
	const n = 256
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, _, errs[i] = a.RecordOrder(ctx, NewOrder{OutTradeNo: fmt.Sprintf("R%03d", i), Kind: "web", Amount: 100, Title: "t"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	// 256 writes fit in 4 full batches; allow for the scheduler's own turns.
	if b := l.group.batches.Load() - before; b > n/8 {
		t.Errorf("%d commits for %d ready writers: the batch did not wait for them", b, n)
	}
}
