package tools

import (
	"sync"
	"time"
)

// maxExpiries bounds the orders whose expiry is remembered; beyond it the
// oldest is forgotten.
const maxExpiries = 10000

// expiryBook remembers until when the links and QR codes this server made
// can be paid, so that closing one can say how long it stays payable. It
// lives in memory: a restart forgets it (the ledger is the place to keep it
// across restarts).
type expiryBook struct {
	mu    sync.Mutex
	at    map[string]time.Time
	order []string
}

func newExpiryBook() *expiryBook { return &expiryBook{at: map[string]time.Time{}} }

// remember records an order's expiry; a later one replaces it.
func (b *expiryBook) remember(no string, until time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.at[no]; !ok {
		b.order = append(b.order, no)
		if len(b.order) > maxExpiries {
			delete(b.at, b.order[0])
			b.order = b.order[1:]
		}
	}
	if until.After(b.at[no]) {
		b.at[no] = until
	}
}

// expiry returns the latest expiry of an order this server made.
func (b *expiryBook) expiry(no string) (time.Time, bool) {
	if b == nil {
		return time.Time{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.at[no]
	return t, ok
}

// maxPayable is the longest a link or QR code may stay payable: Alipay's
// 15 days, less a minute for the time the request takes to arrive.
const maxPayable = 15*24*time.Hour - time.Minute

// expiryAfter is the time_expire of a link or QR code made at now to stay
// payable for d: rounded up to the second (time_expire has no fractions;
// rounding down would give Alipay less than d, under a minute for a
// one-minute code), and at most maxPayable away.
func expiryAfter(now time.Time, d time.Duration) time.Time {
	d = min(d, maxPayable)
	t := now.Add(d)
	if r := t.Truncate(time.Second); r.Before(t) {
		return r.Add(time.Second)
	}
	return t
}
