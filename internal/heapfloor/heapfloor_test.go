package heapfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{4 * mib, 32 * mib, 800},   // goal 4 + 32 MiB
		{32 * mib, 32 * mib, 100},  // at the floor: plain GOGC=100
		{200 * mib, 32 * mib, 100}, // above it: never below 100
		{0, 32 * mib, 3200},        // nothing measured yet: taken as 1 MiB
		{1, 32 * mib, 100_000},     // bounded
		{10 * mib, 25 * mib, 250},  // integer arithmetic, no rounding up
		{3 * mib, 10 * mib, 333},   // 333.3…
	} {
		if got := percentFor(c.live, c.floor, 100); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

func TestExplicitGOGCWins(t *testing.T) {
	env := func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	}
	if f := Start(32<<20, env); f != nil {
		f.Stop()
		t.Fatal("Start ran with GOGC set")
	}
}

// TestFollowsCollections: the floor re-computes GOGC after each collection
// and Stop puts GOGC=100 back.
func TestFollowsCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	f := Start(64<<20, func(string) string { return "" })
	if f == nil {
		t.Fatal("Start returned nil without GOGC")
	}
	if f.Runs() != 1 {
		t.Fatalf("runs after Start = %d, want 1", f.Runs())
	}
	if p := f.Percent(); p <= 100 {
		t.Fatalf("GOGC with a small heap and a 64 MiB floor = %d, want > 100", p)
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
