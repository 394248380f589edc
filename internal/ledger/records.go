package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// Notification is an asynchronous notification as received.
type Notification struct {
	NotifyID    string            // notify_id; empty when the request had none
	OutTradeNo  string            // out_trade_no, as sent (verified or not)
	Params      map[string]string // the raw form parameters
	Verified    bool              // the signature verified
	VerifyError string            // why not, when not
}

// RecordNotification stores a notification and reports whether its
// notify_id was already recorded (a duplicate, which changes nothing).
//
// A notification that failed verification (possibly a forgery) is kept
// only as a summary of at most about 1 KiB, and only the newest
// MaxRejected of them per account are kept.
func (a *Account) RecordNotification(ctx context.Context, n Notification) (duplicate bool, err error) {
	params := n.Params
	if !n.Verified {
		params = rejectedSummary(n.Params)
		n.OutTradeNo, n.VerifyError = clipBytes(n.OutTradeNo, 64), clipBytes(n.VerifyError, 200)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return false, err
	}
	var notifyID any
	if n.NotifyID != "" {
		notifyID = n.NotifyID
	}
	v := 0
	if n.Verified {
		v = 1
	}
	var id int64
	err = a.l.queryRow(ctx, `INSERT INTO ap_notifications
		(app_id, env, notify_id, out_trade_no, params, verified, verify_error, received_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (app_id, env, notify_id) DO NOTHING RETURNING id`,
		[]any{a.AppID, a.Env, notifyID, n.OutTradeNo, string(raw), v, n.VerifyError, ms(a.l.now())}, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err == nil && !n.Verified && id%16 == 0 {
		err = a.pruneRejected(ctx)
	}
	return false, a.l.unavailable(err)
}

// Notifications returns the notifications recorded for an order, oldest
// first.
func (a *Account) Notifications(ctx context.Context, outTradeNo string) ([]Notification, error) {
	rows, err := a.l.db.QueryContext(ctx, `SELECT COALESCE(notify_id, ''), out_trade_no, params, verified, verify_error
		FROM ap_notifications WHERE app_id = $1 AND env = $2 AND out_trade_no = $3 ORDER BY id`, a.AppID, a.Env, outTradeNo)
	if err != nil {
		return nil, a.l.unavailable(err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var raw string
		var v int64
		if err := rows.Scan(&n.NotifyID, &n.OutTradeNo, &raw, &v, &n.VerifyError); err != nil {
			return nil, a.l.unavailable(err)
		}
		n.Verified = v != 0
		if err := json.Unmarshal([]byte(raw), &n.Params); err != nil {
			return nil, fmt.Errorf("通知参数无法解析 / notification params: %w", err)
		}
		out = append(out, n)
	}
	return out, a.l.unavailable(rows.Err())
}

// Entry is one line of the append-only audit log: a call that can move money
// or change state. It never holds a key, a signed URL or app_auth_token.
type Entry struct {
	Who          string // MCP client name, or the HTTP token's name
	Action       string // the tool or command
	OutTradeNo   string
	OutRequestNo string
	Amount       alipay.Amount
	Result       string // "ok", or the error code / refusal
	Detail       string
	At           time.Time // zero means now
}

// Audit appends e to the audit log (one statement).
func (a *Account) Audit(ctx context.Context, e Entry) error {
	at := e.At
	if at.IsZero() {
		at = a.l.now()
	}
	return a.l.unavailable(a.audit(ctx, a.l.exec, e, ms(at)))
}

// execFunc runs one writing statement: a transaction's ExecContext, or
// the ledger's exec (SQLite: through the group commit).
type execFunc func(ctx context.Context, query string, args ...any) (sql.Result, error)

const insertAudit = `INSERT INTO ap_audit
	(app_id, env, at_ms, who, action, out_trade_no, out_request_no, amount_fen, result, detail)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

func (a *Account) audit(ctx context.Context, exec execFunc, e Entry, atMS int64) error {
	_, err := exec(ctx, insertAudit, a.AppID, a.Env, atMS, e.Who, e.Action, e.OutTradeNo, e.OutRequestNo, int64(e.Amount), e.Result, e.Detail)
	return err
}

// AuditLog returns the audit entries at or after since, oldest first, at
// most limit (0 means 1000).
func (a *Account) AuditLog(ctx context.Context, since time.Time, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := a.l.db.QueryContext(ctx, `SELECT at_ms, who, action, out_trade_no, out_request_no, amount_fen, result, detail
		FROM ap_audit WHERE app_id = $1 AND env = $2 AND at_ms >= $3 ORDER BY id LIMIT $4`, a.AppID, a.Env, ms(since), limit)
	if err != nil {
		return nil, a.l.unavailable(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at, amount int64
		if err := rows.Scan(&at, &e.Who, &e.Action, &e.OutTradeNo, &e.OutRequestNo, &amount, &e.Result, &e.Detail); err != nil {
			return nil, a.l.unavailable(err)
		}
		e.At, e.Amount = fromMS(at), alipay.Amount(amount)
		out = append(out, e)
	}
	return out, a.l.unavailable(rows.Err())
}

// OutboxEvent is an event waiting in the outbox to be delivered.
type OutboxEvent struct {
	ID        int64  // the row, for Ack and Fail
	EventID   string // stable across retries and restarts
	Kind      string // "order.paid"
	AppID     string
	Env       string
	Payload   []byte // JSON (PaidEvent for order.paid)
	Attempts  int    // deliveries started, this one included
	CreatedAt time.Time
}

// ClaimEvents leases up to max due events to owner for leaseFor: until the
// lease ends no other sender (in any process) gets them, and an event whose
// sender died is handed out again afterwards. Events of every account are
// claimed: one sender serves the whole ledger.
func (l *Ledger) ClaimEvents(ctx context.Context, owner string, max int, leaseFor time.Duration) ([]OutboxEvent, error) {
	now := l.now()
	var out []OutboxEvent
	err := l.write(ctx, func(ctx context.Context, tx *txn) error {
		rows, err := tx.QueryContext(ctx, `UPDATE ap_outbox SET lease_owner = $1, lease_until_ms = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM ap_outbox WHERE delivered_ms = 0 AND next_ms <= $3 AND lease_until_ms <= $3
				ORDER BY id LIMIT $4`+l.d.skipLocked+`)
			RETURNING id, event_id, kind, app_id, env, payload, attempts, created_ms`,
			owner, ms(now.Add(leaseFor)), ms(now), max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e OutboxEvent
			var payload string
			var created int64
			if err := rows.Scan(&e.ID, &e.EventID, &e.Kind, &e.AppID, &e.Env, &payload, &e.Attempts, &created); err != nil {
				return err
			}
			e.Payload, e.CreatedAt = []byte(payload), fromMS(created)
			out = append(out, e)
		}
		return rows.Err()
	})
	sortEvents(out)
	return out, err
}

func sortEvents(es []OutboxEvent) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].ID < es[j-1].ID; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// AckEvent marks an event delivered; it is never handed out again. It
// holds whoever leases the event now: a delivery made by a sender whose
// lease ran out still happened (receivers dedupe by event_id), and handing
// the event out again would only deliver it twice.
func (l *Ledger) AckEvent(ctx context.Context, id int64) error {
	_, err := l.exec(ctx, `UPDATE ap_outbox SET delivered_ms = $2, lease_owner = '', lease_until_ms = 0, last_error = ''
		WHERE id = $1`, id, ms(l.now()))
	return l.unavailable(err)
}

// FailEvent records owner's failed delivery and when to try again. It
// frees the lease only while owner holds it: a sender whose lease ran out
// (and was handed to another) reporting late neither frees the new
// holder's lease nor moves its retry time. It never undoes AckEvent.
func (l *Ledger) FailEvent(ctx context.Context, id int64, owner string, next time.Time, reason string) error {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	_, err := l.exec(ctx, `UPDATE ap_outbox SET next_ms = $2, lease_owner = '', lease_until_ms = 0, last_error = $3
		WHERE id = $1 AND delivered_ms = 0 AND lease_owner = $4`, id, ms(next), reason, owner)
	return l.unavailable(err)
}

// PendingEvents counts the events not yet delivered.
func (l *Ledger) PendingEvents(ctx context.Context) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_outbox WHERE delivered_ms = 0`).Scan(&n)
	return n, l.unavailable(err)
}

// AcquireLease takes, or renews, the lease name (for example an order a
// replica polls) for holder until ttl from now. It reports false when
// another holder's lease has not yet expired.
func (a *Account) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := a.l.now()
	var got string
	err := a.l.queryRow(ctx, `INSERT INTO ap_leases (app_id, env, name, holder, expires_ms) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (app_id, env, name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
		WHERE ap_leases.holder = excluded.holder OR ap_leases.expires_ms <= $6
		RETURNING holder`, []any{a.AppID, a.Env, name, holder, ms(now.Add(ttl)), ms(now)}, &got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, a.l.unavailable(err)
	}
	return got == holder, nil
}

// ReleaseLease gives the lease up if holder holds it.
func (a *Account) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := a.l.exec(ctx, `DELETE FROM ap_leases WHERE app_id = $1 AND env = $2 AND name = $3 AND holder = $4`,
		a.AppID, a.Env, name, holder)
	return a.l.unavailable(err)
}

// Bounds of what the ledger keeps of rejected notifications: a forged post
// costs at most about rejectedBytes of storage, and only the newest
// MaxRejected per account are kept.
const (
	rejectedBytes = 1024
	MaxRejected   = 1000
)

// rejectedSummary is what is kept of a notification that failed
// verification: its parameters (what the post claimed first, then by
// name), each value clipped to 64
// bytes, no more than rejectedBytes of JSON in all (the names that did not
// fit are dropped and counted under "_dropped").
func rejectedSummary(p map[string]string) map[string]string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	// The fields that say what the post claimed come first.
	first := map[string]int{"out_trade_no": 1, "trade_no": 2, "trade_status": 3, "total_amount": 4, "app_id": 5,
		"notify_id": 6, "notify_time": 7, "notify_type": 8}
	sort.Slice(keys, func(i, j int) bool {
		fi, fj := first[keys[i]], first[keys[j]]
		if fi == 0 {
			fi = len(first) + 1
		}
		if fj == 0 {
			fj = len(first) + 1
		}
		if fi != fj {
			return fi < fj
		}
		return keys[i] < keys[j]
	})
	out := map[string]string{}
	size, dropped := 2, 0
	for _, k := range keys {
		k2, v := clipBytes(k, 64), clipBytes(p[k], 64)
		n := len(k2) + len(v) + 16 // quotes, colon, comma and some escaping
		if size+n > rejectedBytes-32 {
			dropped++
			continue
		}
		size += n
		out[k2] = v
	}
	if dropped > 0 {
		out["_dropped"] = strconv.Itoa(dropped)
	}
	return out
}

// clipBytes cuts s to at most n bytes, on a rune boundary.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// pruneRejected keeps the newest MaxRejected rejected notifications of the
// account (each insert of one calls it now and then).
func (a *Account) pruneRejected(ctx context.Context) error {
	_, err := a.l.exec(ctx, `DELETE FROM ap_notifications WHERE app_id = $1 AND env = $2 AND verified = 0
		AND id <= (SELECT id FROM ap_notifications WHERE app_id = $1 AND env = $2 AND verified = 0 ORDER BY id DESC LIMIT 1 OFFSET $3)`,
		a.AppID, a.Env, MaxRejected)
	return err
}

// Prune deletes what the ledger no longer needs, a bounded batch of each
// per call: leases expired for over a minute (a refund answer's nonce, an
// order a replica polled), and outbox events delivered more than keep ago.
// It returns how many rows went; call it periodically.
func (l *Ledger) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	const batch = 1000
	now := l.now()
	var n int64
	for _, q := range []struct {
		sql string
		arg int64
	}{
		{`DELETE FROM ap_leases WHERE (app_id, env, name) IN
			(SELECT app_id, env, name FROM ap_leases WHERE expires_ms < $1 LIMIT $2)`, ms(now.Add(-time.Minute))},
		{`DELETE FROM ap_outbox WHERE id IN
			(SELECT id FROM ap_outbox WHERE delivered_ms > 0 AND delivered_ms < $1 ORDER BY id LIMIT $2)`, ms(now.Add(-keep))},
	} {
		res, err := l.exec(ctx, q.sql, q.arg, batch)
		if err != nil {
			return n, l.unavailable(err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}
