package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// groupCommit is SQLite's group commit. SQLite has one writer at a time, so
// concurrent writes queue for the write lock anyway, and each commit costs
// more than the inserts it commits (a WAL frame per page, a checksum, a
// write system call). One goroutine takes every write waiting, runs them in
// one transaction with a savepoint each, and commits once:
//
//   - each write still succeeds or fails alone: a write whose fn fails (or
//     panics) is rolled back to its savepoint and the others carry on;
//   - the writes run in the order they arrived and each sees the ones
//     before it, exactly as if they had committed one after the other;
//   - a caller returns only once its own write is committed (or not), so
//     nothing is reported before it is on disk;
//   - if the batch itself fails (begin, a savepoint, the commit), every
//     write in it fails and nothing in it is kept: money-moving callers
//     stop on ErrUnavailable as before.
//
// fn runs with its caller's context values but not its cancellation: a
// caller giving up mid-statement would make SQLite roll back the whole
// shared transaction. A caller whose context ends before its write starts
// gets the context's error and nothing is written.
type groupCommit struct {
	l        *Ledger
	reqs     chan *groupWrite
	stop     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
	// What the batches were, for tests: how many ran, how many writes they
	// held, and whether one held both a write that failed and one that
	// committed.
	batches atomic.Int64
	writes  atomic.Int64
	mixed   atomic.Bool
}

type groupWrite struct {
	ctx    context.Context
	fn     func(context.Context, *txn) error
	err    error
	events []Event
	done   chan struct{}
}

// maxGroup bounds a batch, so one commit's latency stays small.
const maxGroup = 64

var errLedgerClosed = errors.New("账本已关闭 / the ledger is closed")

func startGroupCommit(l *Ledger) *groupCommit {
	g := &groupCommit{l: l, reqs: make(chan *groupWrite), stop: make(chan struct{}), stopped: make(chan struct{})}
	go g.run()
	return g
}

// close stops taking writes once the batch running has finished.
func (g *groupCommit) close() {
	if g == nil {
		return
	}
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.stopped
}

func (g *groupCommit) write(ctx context.Context, fn func(context.Context, *txn) error) error {
	w := &groupWrite{ctx: ctx, fn: fn, done: make(chan struct{})}
	// The channel is unbuffered: once the send succeeds the batch loop has
	// the write and will finish it, stop or not.
	select {
	case g.reqs <- w:
	case <-ctx.Done():
		return g.l.unavailable(ctx.Err())
	case <-g.stop:
		return g.l.unavailable(errLedgerClosed)
	}
	<-w.done
	return w.err
}

func (g *groupCommit) run() {
	defer close(g.stopped)
	batch := make([]*groupWrite, 0, maxGroup)
	for {
		select {
		case w := <-g.reqs:
			batch = append(batch[:0], w)
		case <-g.stop:
			return
		}
		// Let the writers that are ready to run reach the queue before the
		// batch closes. Under load the other goroutines are signing links
		// or answering calls, and their writes arrive a moment after this
		// one: without the yield most batches held a single write (1.3 to
		// 1.6 on average in BenchmarkHTTPCreateWebPage), with it about 30.
		// An idle server has nothing else to run, and the write goes on at
		// once.
		runtime.Gosched()
	more:
		for len(batch) < maxGroup {
			select {
			case w := <-g.reqs:
				batch = append(batch, w)
			default:
				break more
			}
		}
		g.commit(batch)
		clear(batch)
	}
}

// commit runs one batch and answers each of its writes.
//
// A write whose fn panics fails alone with ErrUnavailable (wrapping
// errWritePanicked), rolled back to its savepoint. A panic anywhere else
// before the commit rolls the transaction back and fails every write in
// it, never a success for a transaction that was not committed; the loop
// carries on serving.
func (g *groupCommit) commit(batch []*groupWrite) {
	l := g.l
	g.batches.Add(1)
	g.writes.Add(int64(len(batch)))
	var tx *sql.Tx // the batch's transaction while it is open
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	fail := func(err error) {
		for _, w := range batch {
			if w.err == nil {
				w.err = l.unavailable(err)
			}
			w.events = nil
		}
	}
	committed := false
	defer func() {
		// A panic outside the writes' own fns (they recover their own,
		// below). After the commit the writes' outcomes stand.
		if p := recover(); p != nil && !committed {
			if tx != nil {
				_ = tx.Rollback()
			}
			err := l.unavailable(panicError(p))
			for _, w := range batch {
				w.err, w.events = err, nil
			}
		}
	}()
	if len(batch) == 1 {
		w := batch[0]
		if err := w.ctx.Err(); err != nil {
			w.err = l.unavailable(err)
			return
		}
		w.err = l.writeOne(context.WithoutCancel(w.ctx), w.fn)
		return
	}
	ctx := context.Background()
	var err error
	if tx, err = l.db.BeginTx(ctx, nil); err != nil {
		tx = nil
		fail(fmt.Errorf("开始事务 / begin: %w", err))
		return
	}
	abort := func(what string, err error) {
		_ = tx.Rollback()
		tx = nil
		fail(fmt.Errorf("%s: %w", what, err))
	}
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.err = l.unavailable(err)
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			abort("设置保存点 / savepoint", err)
			return
		}
		t := &txn{Tx: tx, l: l}
		// A write that panics fails alone, like one that returns an error:
		// rolled back to its savepoint, the others carry on.
		if err := runWrite(w, t); err != nil {
			w.err = l.unavailable(err)
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
				abort("回滚到保存点 / rollback to savepoint", err)
				return
			}
		} else {
			w.events = t.events
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			abort("释放保存点 / release savepoint", err)
			return
		}
	}
	err = tx.Commit()
	tx = nil
	if err != nil {
		fail(fmt.Errorf("提交 / commit: %w", err))
		return
	}
	committed = true
	var failed, kept bool
	for _, w := range batch {
		failed, kept = failed || w.err != nil, kept || w.err == nil
		for _, e := range w.events {
			l.hub.publish(e)
		}
	}
	if failed && kept {
		g.mixed.Store(true)
	}
}

// runWrite runs one write's fn in the batch's transaction, a panic turned
// into its error.
func runWrite(w *groupWrite, t *txn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError(p)
		}
	}()
	return w.fn(context.WithoutCancel(w.ctx), t)
}
