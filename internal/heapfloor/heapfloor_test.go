package heapfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

const mib = 1 << 20

func TestFloorFor(t *testing.T) {
	for _, c := range []struct {
		allocated      uint64
		elapsed, every time.Duration
		want           uint64
	}{
		{400 * mib, time.Second, 100 * time.Millisecond, 40 * mib},           // 400 MiB/s: 40 MiB a tenth of a second
		{400 * mib, time.Second, time.Second, 64 * mib},                      // bounded by max
		{1 * mib, time.Second, 100 * time.Millisecond, mib / 10},             // slow: about Go's own pacing
		{0, time.Second, 100 * time.Millisecond, 0},                          // idle
		{10 * mib, 0, 100 * time.Millisecond, 64 * mib},                      // no time measured: assume busy
		{30 * mib, 300 * time.Millisecond, 100 * time.Millisecond, 10 * mib}, // integer result
	} {
		if got := floorFor(c.allocated, c.elapsed, c.every, 64*mib); got != c.want {
			t.Errorf("floorFor(%d, %v, %v) = %d, want %d", c.allocated, c.elapsed, c.every, got, c.want)
		}
	}
}

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{4 * mib, 32 * mib, 800},   // goal 4 + 32 MiB
		{32 * mib, 32 * mib, 100},  // at the floor: plain GOGC=100
		{200 * mib, 32 * mib, 100}, // above it: never below 100
		{0, 32 * mib, 3200},        // nothing measured yet: taken as 1 MiB
		{1, 32 * mib, 100_000},     // bounded
		{3 * mib, 10 * mib, 333},   // 333.3…
		{3 * mib, 0, 100},          // idle: Go's own pacing
	} {
		if got := percentFor(c.live, c.floor, 100); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

// TestPacesByAllocationRate drives the floor with made-up readings: fast
// allocation raises GOGC, then an idle spell puts it back to 100.
func TestPacesByAllocationRate(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t0 := time.Unix(1_800_000_000, 0)
	readings := []sample{
		{live: 4 * mib, allocs: 0, at: t0},
		{live: 4 * mib, allocs: 40 * mib, at: t0.Add(100 * time.Millisecond)},     // 400 MiB/s
		{live: 4 * mib, allocs: 41 * mib, at: t0.Add(1100 * time.Millisecond)},    // then 1 MiB in a second
		{live: 100 * mib, allocs: 141 * mib, at: t0.Add(1200 * time.Millisecond)}, // busy, but a large heap
	}
	i := 0
	f := newFloor(64*mib, 100*time.Millisecond, func() sample { r := readings[i]; i++; return r })
	for _, want := range []int{1000, 100, 100} { // 4 + 40 MiB: GOGC 1000; then 0.1 MiB: 100; large heap: 100
		if !f.adjust() {
			t.Fatal("adjust stopped")
		}
		if got := f.Percent(); got != want {
			t.Fatalf("after reading %d GOGC = %d, want %d", i-1, got, want)
		}
		if got := debug.SetGCPercent(want); got != want {
			t.Fatalf("runtime GOGC = %d, floor set %d", got, want)
		}
	}
}

// TestIdleReleases: after a busy spell raised GOGC, a quiet second puts it
// back to 100 and returns memory to the system, once; a busy second does
// not.
func TestIdleReleases(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t0 := time.Unix(1_800_000_000, 0)
	var now sample
	f := newFloor(64*mib, 100*time.Millisecond, func() sample { return now })
	released := 0
	f.release = func() { released++ }
	step := func(d time.Duration, alloc uint64) {
		now = sample{live: 4 * mib, allocs: now.allocs + alloc, at: now.at.Add(d)}
	}
	now.at = t0
	f.last, f.tick = now, now
	step(100*time.Millisecond, 40*mib) // 400 MiB/s, then a collection
	f.adjust()
	if f.Percent() != 1000 {
		t.Fatalf("busy GOGC = %d, want 1000", f.Percent())
	}
	step(time.Second, 300*mib) // still busy at the check
	f.checkIdle()
	if f.Percent() != 1000 || released != 0 {
		t.Fatalf("busy check: GOGC %d, released %d times; want 1000, 0", f.Percent(), released)
	}
	step(time.Second, 1*mib) // quiet: 0.1 MiB an interval
	f.checkIdle()
	if f.Percent() != 100 || released != 1 {
		t.Fatalf("idle check: GOGC %d, released %d times; want 100, 1", f.Percent(), released)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("runtime GOGC after idle = %d, want 100", got)
	}
	step(time.Second, 0)
	f.checkIdle()
	if released != 1 {
		t.Fatalf("released again while GOGC was already 100: %d times", released)
	}
}

// TestSteadyModerateLoadIsNotIdle: a small live heap under steady,
// moderate allocation keeps its raised GOGC; the idle check must not force
// a collection every second (the audit's case: 2 MiB live, 30 MiB/s).
func TestSteadyModerateLoadIsNotIdle(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	var now sample
	now.at = time.Unix(1_800_000_000, 0)
	f := newFloor(64*mib, 100*time.Millisecond, func() sample { return now })
	released := 0
	f.release = func() { released++ }
	f.last, f.tick = now, now
	for i := range 5 {
		// A collection after 100 ms of 30 MiB/s, then the idle check at
		// the second's end.
		now = sample{live: 2 * mib, allocs: now.allocs + 3*mib, at: now.at.Add(100 * time.Millisecond)}
		f.adjust()
		if f.Percent() != 150 {
			t.Fatalf("second %d: GOGC = %d, want 150 (3 MiB over a 2 MiB heap)", i, f.Percent())
		}
		now = sample{live: 2 * mib, allocs: now.allocs + 27*mib, at: now.at.Add(900 * time.Millisecond)}
		f.checkIdle()
	}
	if released != 0 || f.Percent() != 150 {
		t.Fatalf("steady 30 MiB/s: released %d times, GOGC %d; want 0 and 150", released, f.Percent())
	}
}

func TestExplicitGOGCWins(t *testing.T) {
	env := func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	}
	if f := Start(32*mib, 100*time.Millisecond, env); f != nil {
		f.Stop()
		t.Fatal("Start ran with GOGC set")
	}
}

// TestFollowsCollections: with the real runtime, the floor re-computes
// GOGC after each collection, and Stop puts GOGC=100 back.
func TestFollowsCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	f := Start(64*mib, 100*time.Millisecond, func(string) string { return "" })
	if f == nil {
		t.Fatal("Start returned nil without GOGC")
	}
	// Cleanups run on their own goroutine after a collection: collect
	// until the floor has seen three, bounded.
	for i := 0; f.Runs() < 4; i++ {
		if i == 1000 {
			t.Fatalf("after %d collections the floor re-computed only %d times", i, f.Runs()-1)
		}
		runtime.GC()
		runtime.Gosched()
	}
	if got := debug.SetGCPercent(-1); got != f.Percent() {
		t.Errorf("runtime GOGC = %d, floor says %d", got, f.Percent())
	}
	debug.SetGCPercent(f.Percent())
	f.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after Stop = %d, want 100", got)
	}
	n := f.Runs()
	runtime.GC()
	runtime.GC()
	if f.Runs() != n {
		t.Errorf("floor still running after Stop: %d → %d", n, f.Runs())
	}
}
