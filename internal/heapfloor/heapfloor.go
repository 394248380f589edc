package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A busy server with a small live heap collects garbage far too often: Go
// sets the next collection at twice the live heap (GOGC=100), at least
// 4 MiB, so a few MiB of live data and a few hundred KiB of garbage a
// request mean a collection every few dozen requests, each scanning every
// goroutine's stack. Start sets the goal to at least floor bytes above the
// live heap instead, re-computed after every collection; once the live heap
// is larger than floor, GOGC is back at 100 and the floor costs nothing.
//
// The price is memory: up to floor bytes of garbage may wait for the next
// collection, and only while the program allocates (an idle process makes
// no garbage). GOMEMLIMIT still bounds the total, and an explicit GOGC in
// the environment wins: Start does nothing then.

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

// Floor is a running heap floor; Stop ends it and restores GOGC.
type Floor struct {
	floor uint64
	base  int
	mu    sync.Mutex
	done  bool
	set   int
	runs  int // re-computations: one at Start, one after each collection
}

// Start raises the collector's goal to at least floor bytes above the live
// heap, from now until Stop, unless getenv("GOGC") is set; it returns nil
// then.
func Start(floor uint64, getenv func(string) string) *Floor {
	if getenv("GOGC") != "" || floor == 0 {
		return nil
	}
	f := &Floor{floor: floor, base: 100}
	f.adjust()
	f.arm()
	return f
}

// Stop restores GOGC=100 and stops following collections.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
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

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// adjust sets GOGC for the live heap now; false once stopped.
func (f *Floor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return false
	}
	s := make([]metrics.Sample, len(liveSample))
	copy(s, liveSample)
	metrics.Read(s)
	var live uint64
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = s[0].Value.Uint64()
	}
	p := percentFor(live, f.floor, f.base)
	if p != f.set {
		debug.SetGCPercent(p)
		f.set = p
	}
	f.runs++
	return true
}
