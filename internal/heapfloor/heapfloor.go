package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// A busy server with a small live heap collects garbage far too often: Go
// sets the next collection at twice the live heap (GOGC=100), at least
// 4 MiB, so a few MiB of live data and a few hundred KiB of garbage a
// request mean dozens of collections a second, each scanning every
// goroutine's stack. After each collection the floor measures how fast the
// process allocated since the one before, and sets the next goal that many
// bytes a pacing interval above the live heap (at most max): a busy process
// collects about once an interval, an idle or slow one as Go would, and
// once the live heap is larger than the floor GOGC is back at 100.
//
// The price is memory, and only while the process allocates fast: up to
// max bytes of garbage may wait for the next collection. A process that
// falls idle makes no garbage, so no collection comes to lower the goal
// again; a ticker notices the quiet (under idleFloor's worth an interval),
// puts GOGC back to 100 and returns the free memory to the system at once.
// GOMEMLIMIT still bounds the total, and an explicit GOGC in the
// environment wins: Start does nothing then.

// floorFor is the garbage to allow before the next collection: what the
// process allocated in elapsed, scaled to every, at most max.
func floorFor(allocated uint64, elapsed, every time.Duration, max uint64) uint64 {
	if elapsed <= 0 {
		return max
	}
	f := float64(allocated) * every.Seconds() / elapsed.Seconds()
	if f >= float64(max) {
		return max
	}
	return uint64(f)
}

// percentFor is the GOGC that puts the next collection floor bytes above a
// live heap of live bytes, and never below base.
func percentFor(live, floor uint64, base int) int {
	if live == 0 {
		live = 1 << 20
	}
	p := floor * 100 / live
	const most = 100_000 // bounded: a tiny heap must not make the goal absurd
	switch {
	case p > most:
		return most
	case p < uint64(base):
		return base
	}
	return int(p)
}

// sample is what the floor reads after a collection.
type sample struct {
	live, allocs uint64 // live heap; bytes allocated since the process started
	at           time.Time
}

// Floor is a running heap floor; Stop ends it and restores GOGC.
type Floor struct {
	max   uint64
	every time.Duration
	base  int
	read  func() sample
	// release returns free memory to the system (debug.FreeOSMemory).
	release func()
	stop    chan struct{}

	mu   sync.Mutex
	done bool
	last sample // at the last collection
	tick sample // at the last idle check
	set  int
	runs int // re-computations: one at Start, one after each collection
}

// idleFloor is the floor below which the process counts as idle: Go's own
// minimum heap goal.
const idleFloor = 4 << 20

// Start paces collections at about one per every, with at most max bytes
// of garbage between them, until Stop, unless getenv("GOGC") is set; it
// returns nil then.
func Start(max uint64, every time.Duration, getenv func(string) string) *Floor {
	if getenv("GOGC") != "" || max == 0 || every <= 0 {
		return nil
	}
	f := newFloor(max, every, readRuntime)
	f.adjust()
	f.arm()
	go f.watchIdle(time.Second)
	return f
}

func newFloor(max uint64, every time.Duration, read func() sample) *Floor {
	f := &Floor{max: max, every: every, base: 100, read: read, release: debug.FreeOSMemory, stop: make(chan struct{})}
	f.last = read()
	f.tick = f.last
	return f
}

// watchIdle checks every period whether the process has fallen idle.
func (f *Floor) watchIdle(period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.checkIdle()
		case <-f.stop:
			return
		}
	}
}

// checkIdle lowers a raised GOGC back to 100 and returns free memory to
// the system when the process allocated less than idleFloor's worth of an
// interval since the last check.
func (f *Floor) checkIdle() {
	f.mu.Lock()
	now := f.read()
	var allocated uint64
	if now.allocs > f.tick.allocs {
		allocated = now.allocs - f.tick.allocs
	}
	// Idle: allocating too slowly for a floor worth having, and for one that
	// would raise GOGC at all (with a live heap under idleFloor, a steady
	// moderate rate raises it a little and must not count as idle: the
	// release below is a forced collection).
	floor := floorFor(allocated, now.at.Sub(f.tick.at), f.every, f.max)
	idle := floor < idleFloor && percentFor(now.live, floor, f.base) == f.base
	f.tick = now
	lowered := false
	if idle && !f.done && f.set > f.base {
		debug.SetGCPercent(f.base)
		f.set = f.base
		lowered = true
	}
	f.mu.Unlock()
	if lowered {
		f.release()
	}
}

// Stop restores GOGC=100 and stops following collections.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.done {
		close(f.stop)
	}
	f.done = true
	debug.SetGCPercent(f.base)
}

// Percent is the GOGC the floor set last.
func (f *Floor) Percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set
}

// Runs is how many times the floor has set GOGC: once at Start and once
// after each collection since.
func (f *Floor) Runs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs
}

// arm registers a cleanup on a fresh object, which runs after the
// collection that finds it unreachable: once per collection, re-armed each
// time.
func (f *Floor) arm() {
	// A pointer-holding object is never combined with others by the tiny
	// allocator, so its cleanup runs after the first collection.
	s := &sentinel{}
	runtime.AddCleanup(s, func(f *Floor) {
		if f.adjust() {
			f.arm()
		}
	}, f)
}

type sentinel struct {
	_ *int
	_ [8]byte
}

var names = []string{"/gc/heap/live:bytes", "/gc/heap/allocs:bytes"}

func readRuntime() sample {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	var out sample
	out.at = time.Now()
	if s[0].Value.Kind() == metrics.KindUint64 {
		out.live = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		out.allocs = s[1].Value.Uint64()
	}
	return out
}

// adjust sets GOGC from the allocation since the last adjustment and the
// live heap now; false once stopped.
func (f *Floor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return false
	}
	now := f.read()
	var allocated uint64
	if now.allocs > f.last.allocs {
		allocated = now.allocs - f.last.allocs
	}
	floor := floorFor(allocated, now.at.Sub(f.last.at), f.every, f.max)
	f.last = now
	p := percentFor(now.live, floor, f.base)
	if p != f.set {
		debug.SetGCPercent(p)
		f.set = p
	}
	f.runs++
	return true
}
