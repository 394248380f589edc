package paidhook

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// unreadableDelay is how long an outbox event this sender cannot read (a
// kind or payload from a newer binary sharing the ledger) is put off, so it
// is neither lost nor retried in a tight loop.
const unreadableDelay = time.Hour

// FromLedger is the ledger's outbox (ap_outbox) as the sender's Outbox:
// NewSender(paidhook.FromLedger(l), opts). The ledger writes the event in
// the transaction that records the payment; this turns its claims, acks and
// failures into the sender's three calls.
func FromLedger(l *ledger.Ledger) Outbox {
	return &ledgerOutbox{l: l, rows: map[string]claim{}}
}

type ledgerOutbox struct {
	l    *ledger.Ledger
	mu   sync.Mutex
	rows map[string]claim // event id → outbox row and lease owner, for the events claimed and not yet reported
}

type claim struct {
	row   int64
	owner string
}

func (o *ledgerOutbox) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Event, error) {
	claimed, err := o.l.ClaimEvents(ctx, owner, n, lease)
	out := make([]Event, 0, len(claimed))
	for _, c := range claimed {
		ev, perr := fromLedgerEvent(c)
		if perr != nil {
			if ferr := o.l.FailEvent(ctx, c.ID, owner, time.Now().Add(unreadableDelay), perr.Error()); ferr != nil && err == nil {
				err = ferr
			}
			continue
		}
		o.mu.Lock()
		o.rows[ev.ID] = claim{c.ID, owner}
		o.mu.Unlock()
		out = append(out, ev)
	}
	return out, err
}

func (o *ledgerOutbox) row(id string) (claim, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.rows[id]
	if !ok {
		return claim{}, fmt.Errorf("事件 %s 不是本发送方领取的 / paidhook: event %s was not claimed by this sender", id, id)
	}
	delete(o.rows, id)
	return r, nil
}

func (o *ledgerOutbox) Delivered(ctx context.Context, id string) error {
	r, err := o.row(id)
	if err != nil {
		return err
	}
	return o.l.AckEvent(ctx, r.row)
}

// Failed ignores attempts: the ledger counts an attempt when it hands the
// event out, so one cut short by kill -9 is counted too.
func (o *ledgerOutbox) Failed(ctx context.Context, id string, _ int, next time.Time, lastErr string) error {
	r, err := o.row(id)
	if err != nil {
		return err
	}
	return o.l.FailEvent(ctx, r.row, r.owner, next, lastErr)
}

// fromLedgerEvent reads an order.paid event the ledger queued.
func fromLedgerEvent(c ledger.OutboxEvent) (Event, error) {
	if c.Kind != TypeOrderPaid {
		return Event{}, fmt.Errorf("未知的事件类型 %q, 由更新的版本写入? / unknown event kind %q, written by a newer version?", c.Kind, c.Kind)
	}
	var p ledger.PaidEvent
	if err := json.Unmarshal(c.Payload, &p); err != nil {
		return Event{}, fmt.Errorf("事件内容无法解析 / unreadable event payload: %w", err)
	}
	amount, err := alipay.ParseResponseAmount(p.Amount)
	if err != nil {
		return Event{}, fmt.Errorf("事件金额无效 / event amount: %w", err)
	}
	ev := Event{
		ID: c.EventID, OutTradeNo: p.OutTradeNo, TradeNo: p.TradeNo, Subject: p.Title,
		Amount: amount, Env: c.Env, AppID: c.AppID,
		// The ledger counts the attempt under way; Event.Attempts counts
		// the ones before it.
		Attempts: max(c.Attempts-1, 0),
	}
	if p.PaidAt != "" {
		if ev.PaidAt, err = time.Parse(time.RFC3339, p.PaidAt); err != nil {
			return Event{}, fmt.Errorf("事件付款时间无效 / event paid_at: %w", err)
		}
	}
	return ev, nil
}

// WakeOnPaid wakes s whenever the ledger publishes a paid event (in this
// process; on PostgreSQL, in any process sharing the ledger), so a payment
// is announced at once rather than at the next poll. It stops when ctx ends.
func WakeOnPaid(ctx context.Context, l *ledger.Ledger, s *Sender) error {
	ch, err := l.Subscribe(ctx)
	if err != nil {
		return err
	}
	go func() {
		for ev := range ch {
			if ev.Kind == ledger.EventPaid {
				s.Wake()
			}
		}
	}()
	return nil
}
