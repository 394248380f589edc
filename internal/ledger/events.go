package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// EventKind is what happened to an order.
type EventKind string

// The events the ledger publishes.
const (
	EventPaid     EventKind = "paid"     // the order became TRADE_SUCCESS or TRADE_FINISHED
	EventClosed   EventKind = "closed"   // the order became TRADE_CLOSED
	EventRefunded EventKind = "refunded" // a refund of the order succeeded
)

// Event says an order changed. On PostgreSQL it reaches every process
// sharing the database (LISTEN/NOTIFY); on SQLite, every subscriber in this
// process. Events are hints: a subscriber reads the order for the facts.
type Event struct {
	Kind       EventKind `json:"kind"`
	AppID      string    `json:"app_id"`
	Env        string    `json:"env"`
	OutTradeNo string    `json:"out_trade_no"`
	Status     string    `json:"status"`
	Source     string    `json:"source,omitempty"`
	At         time.Time `json:"at"`
}

// hub fans events out to subscribers without ever blocking the publisher: a
// subscriber whose buffer is full misses the event (and reads the order).
type hub struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

func (h *hub) add(ch chan Event) {
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) remove(ch chan Event) {
	h.mu.Lock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
	h.mu.Unlock()
}

func (h *hub) closeAll() {
	h.mu.Lock()
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
	h.mu.Unlock()
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribe returns a channel of every event of every account, closed when
// ctx ends or the ledger closes. On PostgreSQL the first call starts
// listening and returns once the listener is in place, so an event
// committed after Subscribe returns is delivered.
func (l *Ledger) Subscribe(ctx context.Context) (<-chan Event, error) {
	if !l.d.localEvents {
		l.listenOnce.Do(func() { l.listenErr = l.startListener(ctx) })
		if l.listenErr != nil {
			return nil, l.listenErr
		}
	}
	ch := make(chan Event, 256)
	l.hub.add(ch)
	go func() {
		select {
		case <-ctx.Done():
		case <-l.doneCh():
		}
		l.hub.remove(ch)
	}()
	return ch, nil
}

func (l *Ledger) doneCh() <-chan struct{} {
	if l.stopped == nil {
		return nil
	}
	return l.stopped
}

// startListener connects a dedicated connection, LISTENs, and keeps
// listening (reconnecting with backoff) until Close.
func (l *Ledger) startListener(ctx context.Context) error {
	conn, err := l.listen(ctx)
	if err != nil {
		return l.unavailable(fmt.Errorf("listen for events: %w", err))
	}
	lctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	l.stopped = make(chan struct{})
	go func() {
		defer close(l.stopped)
		backoff := 100 * time.Millisecond
		for {
			if conn != nil {
				n, err := conn.WaitForNotification(lctx)
				if err == nil {
					backoff = 100 * time.Millisecond
					var e Event
					if json.Unmarshal([]byte(n.Payload), &e) == nil {
						l.hub.publish(e)
					}
					continue
				}
				conn.Close(context.Background())
				conn = nil
			}
			select {
			case <-lctx.Done():
				return
			case <-time.After(backoff):
			}
			if backoff < 5*time.Second {
				backoff *= 2
			}
			conn, _ = l.listen(lctx)
		}
	}()
	return nil
}

func (l *Ledger) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, l.pgURL)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+eventChannel); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}
