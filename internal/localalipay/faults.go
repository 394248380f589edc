package localalipay

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Faults are injected into gateway answers, for testing how clients cope.
// Rates are probabilities from 0 to 1, drawn independently per request.
// They live in memory, per Server.
type Faults struct {
	LatencyMS       int     `json:"latency_ms,omitempty"`        // added before answering
	HTTP502Rate     float64 `json:"http_502_rate,omitempty"`     // HTTP 502 with an HTML body
	SystemErrorRate float64 `json:"system_error_rate,omitempty"` // 20000 isp.unknow-error, or 40004 ACQ.SYSTEM_ERROR
	// SystemErrorNext gives the system error to the next N gateway requests
	// of the filtered methods, whatever SystemErrorRate says (0 to 1000).
	// Each such request uses one up; Faults() shows how many remain.
	SystemErrorNext int `json:"system_error_next,omitempty"`
	// SystemErrorKind picks the system error: "isp" (default: 20000
	// isp.unknow-error) or "acq" (40004 ACQ.SYSTEM_ERROR).
	SystemErrorKind string `json:"system_error_kind,omitempty"`
	// SystemErrorAfterCommit applies the call first, then answers the system
	// error: the outcome is unknown to the client, as after a lost answer.
	SystemErrorAfterCommit bool     `json:"system_error_after_commit,omitempty"`
	TamperSignRate         float64  `json:"tamper_sign_rate,omitempty"` // a signature that does not verify
	UnsignedRate           float64  `json:"unsigned_rate,omitempty"`    // no sign at all
	Methods                []string `json:"methods,omitempty"`          // only these methods; empty = all
}

// Validate checks ranges and method names.
func (f Faults) Validate() error {
	rates := []struct {
		name string
		v    float64
	}{{"http_502_rate", f.HTTP502Rate}, {"system_error_rate", f.SystemErrorRate},
		{"tamper_sign_rate", f.TamperSignRate}, {"unsigned_rate", f.UnsignedRate}}
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("%s = %v: 取值范围 0 到 1 / must be between 0 and 1", r.name, r.v)
		}
	}
	if f.LatencyMS < 0 || f.LatencyMS > 120_000 {
		return fmt.Errorf("latency_ms = %d: 取值范围 0 到 120000 / must be between 0 and 120000", f.LatencyMS)
	}
	if f.SystemErrorNext < 0 || f.SystemErrorNext > maxSystemErrorNext {
		return fmt.Errorf("system_error_next = %d: 取值范围 0 到 %d / must be between 0 and %d", f.SystemErrorNext, maxSystemErrorNext, maxSystemErrorNext)
	}
	switch f.SystemErrorKind {
	case "", "isp", "acq":
	default:
		return fmt.Errorf("system_error_kind %q: 只能是 isp 或 acq / allowed values are isp and acq", f.SystemErrorKind)
	}
	for _, m := range f.Methods {
		if _, ok := methods[m]; !ok {
			return fmt.Errorf("methods: 未知的接口名 %q / unknown method %q", m, m)
		}
	}
	return nil
}

// maxSystemErrorNext bounds Faults.SystemErrorNext.
const maxSystemErrorNext = 1000

// faultSet is the Server's current faults.
type faultSet struct {
	mu sync.Mutex
	f  Faults
}

func (fs *faultSet) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.Methods = slices.Clone(f.Methods)
	fs.f = f
}

func (fs *faultSet) get() Faults {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.f
	f.Methods = slices.Clone(f.Methods)
	return f
}

// faultDecision is what happens to one request.
type faultDecision struct {
	latency     time.Duration
	http502     bool
	systemError bool
	acq         bool
	afterCommit bool
	tamper      bool
	unsigned    bool
}

// decide draws the faults of one request. A request of a filtered method
// that is not answered with HTTP 502 uses up one of SystemErrorNext, under
// the lock, so concurrent requests never share one.
func (fs *faultSet) decide(method string) faultDecision {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := &fs.f
	if len(f.Methods) > 0 && !slices.Contains(f.Methods, method) {
		return faultDecision{}
	}
	hit := func(rate float64) bool { return rate > 0 && (rate >= 1 || rand.Float64() < rate) }
	d := faultDecision{
		latency:     time.Duration(f.LatencyMS) * time.Millisecond,
		http502:     hit(f.HTTP502Rate),
		systemError: hit(f.SystemErrorRate),
		acq:         f.SystemErrorKind == "acq",
		afterCommit: f.SystemErrorAfterCommit,
		tamper:      hit(f.TamperSignRate),
		unsigned:    hit(f.UnsignedRate),
	}
	if !d.http502 && f.SystemErrorNext > 0 {
		f.SystemErrorNext--
		d.systemError = true
	}
	return d
}

func (d faultDecision) systemErrorAnswer() *gwError {
	if d.acq {
		return &gwError{Code: codeBusiness, Sub: "ACQ.SYSTEM_ERROR", SubMsg: "系统错误 (injected fault of the LOCAL Alipay)"}
	}
	return &gwError{Code: codeUnavailable, Sub: "isp.unknow-error", SubMsg: "系统繁忙 (injected fault of the LOCAL Alipay)"}
}
