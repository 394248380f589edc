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
