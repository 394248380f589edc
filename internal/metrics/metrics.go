package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ContentType is the Content-Type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Registry holds metric families in the order they were made.
type Registry struct {
	mu       sync.Mutex
	families []family
	names    map[string]bool
}

// family is one metric family: its HELP and TYPE lines, then its samples.
type family interface {
	header() (name, help, typ string)
	samples(w *bufio.Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

func (r *Registry) add(f family) {
	name, _, _ := f.header()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic("metrics: duplicate family " + name)
	}
	r.names[name] = true
	r.families = append(r.families, f)
}

// Write writes every family in the text format.
func (r *Registry) Write(w io.Writer) error {
	r.mu.Lock()
	fams := slices.Clone(r.families)
	r.mu.Unlock()
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		name, help, typ := f.header()
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
		f.samples(bw)
	}
	return bw.Flush()
}

// vec is the label bookkeeping shared by the vector types: values are kept
// per label-value tuple, and written sorted for a stable output.
type vec[T any] struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	m          map[string]*T // key: label values joined by \xff
	newT       func() *T
}

func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.m[key]
	if !ok {
		t = v.newT()
		v.m[key] = t
	}
	return t
}

// each calls f for every label tuple in sorted order.
func (v *vec[T]) each(f func(values []string, t *T)) {
	v.mu.Lock()
	keys := make([]string, 0, len(v.m))
	for k := range v.m {
		keys = append(keys, k)
	}
	ts := make(map[string]*T, len(v.m))
	for k, t := range v.m {
		ts[k] = t
	}
	v.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		var values []string
		if len(v.labels) > 0 {
			values = strings.Split(k, "\xff")
		}
		f(values, ts[k])
	}
}

// CounterVec is a counter per label-value tuple.
type CounterVec struct{ v vec[atomic.Uint64] }

// NewCounterVec makes a counter family; name should end in _total.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{v: vec[atomic.Uint64]{name: name, help: help, labels: labels, m: map[string]*atomic.Uint64{}, newT: func() *atomic.Uint64 { return new(atomic.Uint64) }}}
	r.add(c)
	return c
}

// Add adds n to the counter of the label values.
func (c *CounterVec) Add(n uint64, values ...string) { c.v.with(values).Add(n) }

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Value is the counter's current value.
func (c *CounterVec) Value(values ...string) uint64 { return c.v.with(values).Load() }

func (c *CounterVec) header() (string, string, string) { return c.v.name, c.v.help, "counter" }

func (c *CounterVec) samples(w *bufio.Writer) {
	c.v.each(func(values []string, n *atomic.Uint64) {
		writeSample(w, c.v.name, c.v.labels, values, "", "", float64(n.Load()))
	})
}

// GaugeFunc is a gauge whose value is read when the metrics are written.
type GaugeFunc struct {
	name, help string
	f          func() float64
}

// NewGaugeFunc makes a gauge that calls f at every scrape.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) *GaugeFunc {
	g := &GaugeFunc{name: name, help: help, f: f}
	r.add(g)
	return g
}

func (g *GaugeFunc) header() (string, string, string) { return g.name, g.help, "gauge" }

func (g *GaugeFunc) samples(w *bufio.Writer) { writeSample(w, g.name, nil, nil, "", "", g.f()) }

// HistogramVec is a histogram of durations per label-value tuple.
type HistogramVec struct {
	v       vec[histogram]
	buckets []float64 // upper bounds in seconds, ascending, without +Inf
}

type histogram struct {
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  uint64
}

// DefaultBuckets suit calls to a payment gateway: 5 ms to 30 s.
var DefaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// NewHistogramVec makes a histogram family of seconds with the given upper
// bounds (nil: DefaultBuckets).
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if buckets == nil {
		buckets = DefaultBuckets
	}
	if !slices.IsSorted(buckets) {
		panic("metrics: buckets of " + name + " are not ascending")
	}
	n := len(buckets) + 1
	h := &HistogramVec{buckets: buckets, v: vec[histogram]{name: name, help: help, labels: labels, m: map[string]*histogram{},
		newT: func() *histogram { return &histogram{counts: make([]uint64, n)} }}}
	r.add(h)
	return h
}

// Observe records one duration.
func (h *HistogramVec) Observe(d time.Duration, values ...string) {
	s := d.Seconds()
	i, _ := slices.BinarySearch(h.buckets, s) // first bound ≥ s; len = +Inf
	t := h.v.with(values)
	t.mu.Lock()
	t.counts[i]++
	t.sum += s
	t.count++
	t.mu.Unlock()
}

// Count is the number of observations of the label values.
func (h *HistogramVec) Count(values ...string) uint64 {
	t := h.v.with(values)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

func (h *HistogramVec) header() (string, string, string) { return h.v.name, h.v.help, "histogram" }

func (h *HistogramVec) samples(w *bufio.Writer) {
	h.v.each(func(values []string, t *histogram) {
		t.mu.Lock()
		counts, sum, count := slices.Clone(t.counts), t.sum, t.count
		t.mu.Unlock()
		var cum uint64
		for i, b := range h.buckets {
			cum += counts[i]
			writeSample(w, h.v.name+"_bucket", h.v.labels, values, "le", formatFloat(b), float64(cum))
		}
		writeSample(w, h.v.name+"_bucket", h.v.labels, values, "le", "+Inf", float64(count))
		writeSample(w, h.v.name+"_sum", h.v.labels, values, "", "", sum)
		writeSample(w, h.v.name+"_count", h.v.labels, values, "", "", float64(count))
	})
}

// writeSample writes `name{l="v",…} value`, with an optional extra label
// (le of a histogram bucket).
func writeSample(w *bufio.Writer, name string, labels, values []string, extraL, extraV string, value float64) {
	w.WriteString(name)
	if len(labels) > 0 || extraL != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, "%s=\"%s\"", l, escapeLabel(values[i]))
		}
		if extraL != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, "%s=\"%s\"", extraL, extraV)
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(value))
	w.WriteByte('\n')
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }
