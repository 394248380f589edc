package paywatch

import (
	"errors"
	"sync"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// verdict is the breaker's answer to a watch about to query.
type verdict int

const (
	pass  verdict = iota // closed: query
	probe                // the pause is over: query, as the one probe
	hold                 // do not query now
)

// breaker is shared by the watches of one Watcher: after threshold
// consecutive gateway failures across them it opens and no watch queries
// for a cool-down (first, doubling up to max); then one query probes. An
// answer closes it; a failed probe opens it again; after giveUp failed
// probes in a row the Watcher stops every watch and the breaker starts
// afresh. Its methods are safe for concurrent use.
type breaker struct {
	threshold int
	first     time.Duration
	max       time.Duration
	giveUp    int

	mu        sync.Mutex
	failures  int           // consecutive gateway failures while closed
	openUntil time.Time     // zero while closed
	cooldown  time.Duration // the next pause
	probing   bool          // a probe is in flight
	probes    int           // failed probes in a row
}

func newBreaker(o Options) *breaker {
	return &breaker{threshold: o.BreakerThreshold, first: o.BreakerCooldown, max: o.BreakerMaxCooldown,
		giveUp: o.BreakerGiveUp, cooldown: o.BreakerCooldown}
}

// admit says whether a watch may query at now. With hold, wait is how long
// the pause still lasts, or 0 while another watch's probe is in flight.
func (b *breaker) admit(now time.Time) (v verdict, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openUntil.IsZero():
		return pass, 0
	case now.Before(b.openUntil):
		return hold, b.openUntil.Sub(now)
	case b.probing:
		return hold, 0
	}
	b.probing = true
	return probe, 0
}

// abort forgets a query admitted with v that ended without an answer
// because its watch was cancelled.
func (b *breaker) abort(v verdict) {
	if v != probe {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// record notes the outcome of a query admitted with v and finished at now:
// failed when the gateway did not answer usefully. paused > 0 when the
// breaker has just opened for that long; gaveUp when it has given up.
func (b *breaker) record(v verdict, now time.Time, failed bool) (paused time.Duration, gaveUp bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v == probe {
		b.probing = false
	}
	switch {
	case !failed:
		b.reset()
		return 0, false
	case v == probe:
		if b.probes++; b.probes >= b.giveUp {
			b.reset()
			return 0, true
		}
		return b.open(now), false
	case b.openUntil.IsZero():
		if b.failures++; b.failures >= b.threshold {
			return b.open(now), false
		}
	}
	// A query admitted before the breaker opened, failing after: the
	// pause already counts it.
	return 0, false
}

// open starts a pause at now and doubles the next one; b.mu is held.
func (b *breaker) open(now time.Time) time.Duration {
	d := b.cooldown
	b.openUntil = now.Add(d)
	b.cooldown = min(2*d, b.max)
	b.failures = 0
	return d
}

// reset closes the breaker; b.mu is held.
func (b *breaker) reset() {
	b.failures, b.probes, b.openUntil, b.cooldown = 0, 0, time.Time{}, b.first
}

// gatewayFailure reports whether err means the gateway did not answer
// usefully: a network error, HTTP 5xx, or a system error (20000,
// ACQ.SYSTEM_ERROR) — anything alipay marks retryable. An answer, even an
// error, means the gateway is up.
func gatewayFailure(err error) bool {
	var ae *alipay.Error
	return errors.As(err, &ae) && ae.Retryable
}
