package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// StatusNotOpened is an order's status until a query finds it at Alipay
// (the buyer has not opened the link yet).
const StatusNotOpened = "NOT_OPENED"

// KindExternal is the kind of an order this server did not make a link for
// but saw in a query.
const KindExternal = "external"

// Sources of a status change.
const (
	SourceQuery        = "query"
	SourceWatch        = "watch"
	SourceNotification = "notification"
)

// Order is what the ledger knows of one order.
type Order struct {
	OutTradeNo string
	Kind       string // the link kind (mobile, web, …) or KindExternal
	Amount     alipay.Amount
	Title      string
	Status     string // StatusNotOpened or an Alipay trade status
	TradeNo    string
	Refunded   alipay.Amount // sum of the refunds known to have succeeded
	CreatedBy  string
	CreatedAt  time.Time
	StatusAt   time.Time
	PaidAt     time.Time // zero until paid
	// ClosedAt is when the merchant closed the order through this server
	// (MarkClosed), zero if never: an order closed before the buyer opened
	// its link stays NOT_OPENED at Alipay, and only this remembers it.
	ClosedAt time.Time
	// PayableUntil is the latest expiry of the links and QR codes made for
	// the order (zero: unknown, not made here).
	PayableUntil time.Time
}

// Paid reports whether the buyer has paid.
func (o Order) Paid() bool { return alipay.Paid(o.Status) }

// Final reports whether the order's status can no longer change by payment,
// or the merchant closed it: no new link may be made for it.
func (o Order) Final() bool {
	return o.Paid() || o.Status == alipay.TradeClosed || !o.ClosedAt.IsZero()
}

// NewOrder is an order a link is being made for.
type NewOrder struct {
	OutTradeNo string
	Kind       string
	Amount     alipay.Amount
	Title      string
	Who        string
	// PayableUntil is the link's expiry (time_expire); a later link for the
	// same order moves the order's PayableUntil later, never earlier.
	PayableUntil time.Time
	Audit        *Entry // optional: the call's audit entry, written with a new order
}

// ErrNotFound is returned when the ledger holds no such record.
var ErrNotFound = errors.New("账本中没有该记录 / not in the ledger")

// ErrOrderConflict is wrapped when a link is asked for an outTradeNo the
// ledger holds with another amount or title (Alipay would fail the buyer
// with ACQ.CONTEXT_INCONSISTENT).
var ErrOrderConflict = errors.New("商户订单号已用于不同的金额或标题 / outTradeNo already used with another amount or title")

// ErrOrderFinal is wrapped when a link is asked for an order already paid or
// closed (at Alipay, or by the merchant through MarkClosed: then the
// OrderError's Existing.ClosedAt is set).
var ErrOrderFinal = errors.New("订单已支付或已关闭 / the order is already paid or closed")

// OrderError is a refusal of RecordOrder, with the order the ledger holds.
type OrderError struct {
	Kind     error // ErrOrderConflict or ErrOrderFinal
	Existing Order
}

func (e *OrderError) Error() string {
	o := e.Existing
	if errors.Is(e.Kind, ErrOrderFinal) {
		return fmt.Sprintf("%v: %s 状态为 %s / %s is %s", e.Kind, o.OutTradeNo, o.Status, o.OutTradeNo, o.Status)
	}
	return fmt.Sprintf("%v: 已记录 %s 元「%s」/ recorded as %s yuan %q", e.Kind, o.Amount, o.Title, o.Amount, o.Title)
}

func (e *OrderError) Unwrap() error { return e.Kind }

// insertOrder adds an order unless it is there, returning its id.
const insertOrder = `INSERT INTO ap_orders
	(app_id, env, out_trade_no, kind, amount_fen, title, status, created_by, created_ms, status_ms, payable_until_ms)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
	ON CONFLICT (app_id, env, out_trade_no) DO NOTHING RETURNING id`

// RecordOrder records an order a link is made for, and n.Audit, if set, in
// the same transaction. A new order costs one statement on PostgreSQL (a
// single round trip once pgx has the statement prepared). The same order
// again (same amount and title, not final) is fine and returns
// created=false; another amount or title is refused with ErrOrderConflict,
// and a paid or closed order with ErrOrderFinal, both as *OrderError. The
// audit entry is written only with a new order: for the other outcomes the
// caller audits what it then does.
func (a *Account) RecordOrder(ctx context.Context, n NewOrder) (o Order, created bool, err error) {
	now := ms(a.l.now())
	args := []any{a.AppID, a.Env, n.OutTradeNo, n.Kind, int64(n.Amount), n.Title, StatusNotOpened, n.Who, now, ms(n.PayableUntil)}
	var id int64
	switch {
	case n.Audit == nil:
		err = a.l.queryRow(ctx, insertOrder, args, &id)
	case !a.l.d.localEvents:
		// PostgreSQL: order and audit entry in one statement.
		e := n.Audit
		err = a.l.db.QueryRowContext(ctx, `WITH o AS (`+insertOrder+`),
			au AS (INSERT INTO ap_audit (app_id, env, at_ms, who, action, out_trade_no, out_request_no, amount_fen, result, detail)
				SELECT $1, $2, $9, $11, $12, $3, $13, $14, $15, $16 FROM o)
			SELECT id FROM o`, append(args, e.Who, e.Action, e.OutRequestNo, int64(e.Amount), e.Result, e.Detail)...).Scan(&id)
	default:
		err = a.l.write(ctx, func(ctx context.Context, tx *txn) error {
			if err := tx.QueryRowContext(ctx, insertOrder, args...).Scan(&id); err != nil {
				return err
			}
			e := *n.Audit
			e.OutTradeNo = n.OutTradeNo
			return a.audit(ctx, tx.ExecContext, e, now)
		})
	}
	if err == nil {
		return Order{OutTradeNo: n.OutTradeNo, Kind: n.Kind, Amount: n.Amount, Title: n.Title, Status: StatusNotOpened,
			CreatedBy: n.Who, CreatedAt: fromMS(now), StatusAt: fromMS(now), PayableUntil: fromMS(ms(n.PayableUntil))}, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Order{}, false, a.l.unavailable(err)
	}
	o, err = a.Order(ctx, n.OutTradeNo)
	if err != nil {
		return Order{}, false, err
	}
	if o.Kind == KindExternal && o.Amount == n.Amount && o.Title == "" {
		// Seen by a query before: keep the title the link gives it.
		if _, err := a.l.exec(ctx, `UPDATE ap_orders SET title = $4, kind = $5
			WHERE app_id = $1 AND env = $2 AND out_trade_no = $3 AND title = ''`,
			a.AppID, a.Env, n.OutTradeNo, n.Title, n.Kind); err != nil {
			return Order{}, false, a.l.unavailable(err)
		}
		o.Title, o.Kind = n.Title, n.Kind
	}
	if o.Final() {
		return o, false, &knownError{&OrderError{Kind: ErrOrderFinal, Existing: o}}
	}
	if o.Amount != n.Amount || o.Title != n.Title {
		return o, false, &knownError{&OrderError{Kind: ErrOrderConflict, Existing: o}}
	}
	if until := ms(n.PayableUntil); until > ms(o.PayableUntil) {
		// The same link again, made later: payable until the later expiry.
		if _, err := a.l.exec(ctx, `UPDATE ap_orders SET payable_until_ms = $4
			WHERE app_id = $1 AND env = $2 AND out_trade_no = $3 AND payable_until_ms < $4`,
			a.AppID, a.Env, n.OutTradeNo, until); err != nil {
			return Order{}, false, a.l.unavailable(err)
		}
		o.PayableUntil = fromMS(until)
	}
	return o, false, nil
}

// MarkClosed records that the merchant closed an order at at (the first
// close is kept), and returns the order. An order the ledger does not know
// yet is recorded as external, so that no link is made for it later. It is
// the one record of a close of an order whose link nobody opened: Alipay
// has no trade to close then.
func (a *Account) MarkClosed(ctx context.Context, outTradeNo string, at time.Time, who string) (Order, error) {
	if _, err := a.l.exec(ctx, `INSERT INTO ap_orders
		(app_id, env, out_trade_no, kind, amount_fen, status, created_by, created_ms, status_ms, closed_ms)
		VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $7, $7)
		ON CONFLICT (app_id, env, out_trade_no) DO UPDATE SET closed_ms = $7
		WHERE ap_orders.closed_ms = 0`,
		a.AppID, a.Env, outTradeNo, KindExternal, StatusNotOpened, who, ms(at)); err != nil {
		return Order{}, a.l.unavailable(err)
	}
	return a.Order(ctx, outTradeNo)
}

// ClosedUnopened returns the orders the merchant closed while Alipay had no
// trade for them (still NOT_OPENED) whose links can still be paid after
// now: the watches that must close the trade when the buyer opens one.
func (a *Account) ClosedUnopened(ctx context.Context, now time.Time) ([]Order, error) {
	return a.selectOrders(ctx, `status = $3 AND closed_ms > 0 AND payable_until_ms > $4`, StatusNotOpened, ms(now))
}

// selectOrders returns the account's orders that match cond (its
// placeholders start at $3), oldest first.
func (a *Account) selectOrders(ctx context.Context, cond string, args ...any) ([]Order, error) {
	rows, err := a.l.db.QueryContext(ctx, `SELECT `+orderColumns+` FROM ap_orders
		WHERE app_id = $1 AND env = $2 AND `+cond+` ORDER BY created_ms`, append([]any{a.AppID, a.Env}, args...)...)
	if err != nil {
		return nil, a.l.unavailable(err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, a.l.unavailable(err)
		}
		out = append(out, o)
	}
	return out, a.l.unavailable(rows.Err())
}

// The refunded total is summed from ap_refunds, not kept in ap_orders'
// refunded_fen (schema v1, no longer written or read): a refund settled before its order reached the ledger (a
// refund of a trade made elsewhere, recorded before any query of it) counts
// too.
const orderColumns = `out_trade_no, kind, amount_fen, title, status, trade_no,
	(SELECT COALESCE(SUM(r.amount_fen), 0) FROM ap_refunds r WHERE r.app_id = ap_orders.app_id AND r.env = ap_orders.env
		AND r.out_trade_no = ap_orders.out_trade_no AND r.outcome = 'succeeded'),
	created_by, created_ms, status_ms, paid_ms, closed_ms, payable_until_ms`

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	return scanOrderID(row, nil)
}

// scanOrderID scans `id, `+orderColumns into *id, or orderColumns alone
// when id is nil.
func scanOrderID(row interface{ Scan(...any) error }, id *int64) (Order, error) {
	var o Order
	var amount, refunded, created, status, paid, closed, until int64
	dest := []any{&o.OutTradeNo, &o.Kind, &amount, &o.Title, &o.Status, &o.TradeNo, &refunded, &o.CreatedBy,
		&created, &status, &paid, &closed, &until}
	if id != nil {
		dest = append([]any{id}, dest...)
	}
	err := row.Scan(dest...)
	o.Amount, o.Refunded = alipay.Amount(amount), alipay.Amount(refunded)
	o.CreatedAt, o.StatusAt, o.PaidAt = fromMS(created), fromMS(status), fromMS(paid)
	o.ClosedAt, o.PayableUntil = fromMS(closed), fromMS(until)
	return o, err
}

// Order returns the order, or ErrNotFound.
func (a *Account) Order(ctx context.Context, outTradeNo string) (Order, error) {
	o, err := scanOrder(a.l.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM ap_orders
		WHERE app_id = $1 AND env = $2 AND out_trade_no = $3`, a.AppID, a.Env, outTradeNo))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, &knownError{fmt.Errorf("%s: %w", outTradeNo, ErrNotFound)}
	}
	if err != nil {
		return Order{}, a.l.unavailable(err)
	}
	return o, nil
}

// StatusSeen is a trade status a query, a watch or a notification saw.
type StatusSeen struct {
	OutTradeNo string
	Status     string
	TradeNo    string
	Amount     alipay.Amount // the trade total, when the source knows it
	Source     string        // SourceQuery, SourceWatch or SourceNotification
	Who        string
	PaidAt     time.Time // when the buyer paid (Alipay's send_pay_date); zero means when seen
}

// rank orders statuses so that a late, stale answer never moves an order
// back: NOT_OPENED < WAIT_BUYER_PAY < TRADE_SUCCESS < TRADE_FINISHED, TRADE_CLOSED.
func rank(status string) int {
	switch status {
	case StatusNotOpened:
		return 0
	case alipay.TradeWaitBuyerPay:
		return 1
	case alipay.TradeSuccess:
		return 2
	case alipay.TradeFinished, alipay.TradeClosed:
		return 3
	}
	return -1
}

// PaidEvent is the payload of an outbox event of kind "order.paid".
type PaidEvent struct {
	EventID    string `json:"event_id"`
	Type       string `json:"type"` // "order.paid"
	AppID      string `json:"app_id"`
	Env        string `json:"env"`
	OutTradeNo string `json:"out_trade_no"`
	TradeNo    string `json:"trade_no,omitempty"`
	Amount     string `json:"total_amount"` // yuan, exact: "199.00"
	Title      string `json:"subject,omitempty"`
	Status     string `json:"trade_status"`
	PaidAt     string `json:"paid_at"` // RFC 3339
	Source     string `json:"source"`  // which source saw the payment first
}

// PaidEventID is the stable id of an order's paid event: the same order in
// the same app and environment always gets the same id, whichever process
// or source queued it ("evt_" and 24 hex digits of SHA-256, the scheme of
// paidhook.NewEventID, which a test in cmd keeps equal).
func PaidEventID(appID, env, outTradeNo string) string {
	h := sha256.Sum256([]byte("order.paid\x00" + env + "\x00" + appID + "\x00" + outTradeNo))
	return "evt_" + hex.EncodeToString(h[:12])
}

// RecordStatus records a status seen by a query, watch or notification and
// reports whether the order's status changed. An order the ledger did not
// know is added (kind external). A status never moves back. When the order
// becomes paid, whichever source saw it first, a paid event is queued in
// the outbox in the same transaction, and EventPaid is published; TRADE_CLOSED
// publishes EventClosed.
func (a *Account) RecordStatus(ctx context.Context, s StatusSeen) (changed bool, err error) {
	if rank(s.Status) < 0 {
		return false, &knownError{fmt.Errorf("未知的交易状态 / unknown trade status %q", s.Status)}
	}
	// The common case, a status seen again, costs one read and no
	// transaction (one round trip on PostgreSQL).
	var cur, curTradeNo string
	err = a.l.db.QueryRowContext(ctx, `SELECT status, trade_no FROM ap_orders WHERE app_id = $1 AND env = $2 AND out_trade_no = $3`,
		a.AppID, a.Env, s.OutTradeNo).Scan(&cur, &curTradeNo)
	if err == nil && rank(s.Status) <= rank(cur) && (s.TradeNo == "" || curTradeNo != "") {
		return false, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, a.l.unavailable(err)
	}
	now := a.l.now()
	err = a.l.write(ctx, func(ctx context.Context, tx *txn) error {
		selectRow := func() (int64, Order, error) {
			var id int64
			o, err := scanOrderID(tx.QueryRowContext(ctx, `SELECT id, `+orderColumns+` FROM ap_orders
				WHERE app_id = $1 AND env = $2 AND out_trade_no = $3`+a.l.d.forUpdate, a.AppID, a.Env, s.OutTradeNo), &id)
			return id, o, err
		}
		id, o, err := selectRow()
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `INSERT INTO ap_orders
				(app_id, env, out_trade_no, kind, amount_fen, status, created_by, created_ms, status_ms)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
				ON CONFLICT (app_id, env, out_trade_no) DO NOTHING RETURNING id`,
				a.AppID, a.Env, s.OutTradeNo, KindExternal, int64(s.Amount), StatusNotOpened, s.Who, ms(now)).Scan(&id)
			o = Order{OutTradeNo: s.OutTradeNo, Kind: KindExternal, Amount: s.Amount, Status: StatusNotOpened}
			if errors.Is(err, sql.ErrNoRows) {
				// PostgreSQL: another transaction inserted the order after
				// our SELECT … FOR UPDATE found (and so locked) nothing; the
				// conflict waited for it to commit. Lock and read its row.
				id, o, err = selectRow()
			}
		}
		if err != nil {
			return err
		}
		if rank(s.Status) <= rank(o.Status) {
			if s.TradeNo != "" && o.TradeNo == "" {
				_, err := tx.ExecContext(ctx, `UPDATE ap_orders SET trade_no = $2 WHERE id = $1`, id, s.TradeNo)
				return err
			}
			return nil
		}
		changed = true
		tradeNo := o.TradeNo
		if s.TradeNo != "" {
			tradeNo = s.TradeNo
		}
		if o.Amount == 0 && s.Amount > 0 {
			o.Amount = s.Amount
		}
		paidMS := ms(o.PaidAt)
		becamePaid := alipay.Paid(s.Status) && !alipay.Paid(o.Status)
		if becamePaid {
			paidMS = ms(now)
			if !s.PaidAt.IsZero() {
				paidMS = ms(s.PaidAt)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ap_orders SET status = $2, trade_no = $3, status_ms = $4, paid_ms = $5,
			amount_fen = $6 WHERE id = $1`, id, s.Status, tradeNo, ms(now), paidMS, int64(o.Amount)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ap_order_status (order_id, status, source, who, at_ms)
			VALUES ($1, $2, $3, $4, $5)`, id, s.Status, s.Source, s.Who, ms(now)); err != nil {
			return err
		}
		ev := Event{AppID: a.AppID, Env: a.Env, OutTradeNo: s.OutTradeNo, Status: s.Status, Source: s.Source, At: now}
		switch {
		case becamePaid:
			ev.Kind = EventPaid
			eid := PaidEventID(a.AppID, a.Env, s.OutTradeNo)
			payload, err := json.Marshal(PaidEvent{EventID: eid, Type: "order.paid", AppID: a.AppID, Env: a.Env,
				OutTradeNo: s.OutTradeNo, TradeNo: tradeNo, Amount: o.Amount.String(), Title: o.Title, Status: s.Status,
				PaidAt: fromMS(paidMS).UTC().Format(time.RFC3339), Source: s.Source})
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO ap_outbox (app_id, env, event_id, kind, payload, created_ms, next_ms)
				VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING`,
				a.AppID, a.Env, eid, "order.paid", string(payload), ms(now)); err != nil {
				return err
			}
			tx.events = append(tx.events, ev)
		case s.Status == alipay.TradeClosed:
			ev.Kind = EventClosed
			tx.events = append(tx.events, ev)
		}
		return nil
	})
	return changed, err
}

// StatusChange is one recorded status change of an order.
type StatusChange struct {
	Status string
	Source string
	Who    string
	At     time.Time
}

// History returns the order's status changes, oldest first.
func (a *Account) History(ctx context.Context, outTradeNo string) ([]StatusChange, error) {
	rows, err := a.l.db.QueryContext(ctx, `SELECT s.status, s.source, s.who, s.at_ms FROM ap_order_status s
		JOIN ap_orders o ON o.id = s.order_id
		WHERE o.app_id = $1 AND o.env = $2 AND o.out_trade_no = $3 ORDER BY s.id`, a.AppID, a.Env, outTradeNo)
	if err != nil {
		return nil, a.l.unavailable(err)
	}
	defer rows.Close()
	var out []StatusChange
	for rows.Next() {
		var c StatusChange
		var at int64
		if err := rows.Scan(&c.Status, &c.Source, &c.Who, &at); err != nil {
			return nil, a.l.unavailable(err)
		}
		c.At = fromMS(at)
		out = append(out, c)
	}
	return out, a.l.unavailable(rows.Err())
}

// Filter selects orders for ListOrders.
type Filter struct {
	Statuses []string  // any of these statuses; empty means all
	Since    time.Time // created at or after; zero means no bound
	Until    time.Time // created before; zero means no bound
	Limit    int       // page size; 0 means 50, at most 1000
	Cursor   string    // from the previous page's Next; empty for the first page
}

// Page is one page of orders, newest first.
type Page struct {
	Orders []Order
	Next   string // cursor of the next page; empty on the last
}

// ErrCursor is wrapped when a cursor is not one ListOrders returned.
var ErrCursor = errors.New("分页游标无效 / invalid page cursor")

// ListOrders returns orders newest first, a page at a time (keyset paging on
// the creation time, so a page costs the same however deep it is).
func (a *Account) ListOrders(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 1000 {
		limit = 1000
	}
	q := strings.Builder{}
	q.WriteString(`SELECT id, ` + orderColumns + ` FROM ap_orders WHERE app_id = $1 AND env = $2`)
	args := []any{a.AppID, a.Env}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.Statuses) > 0 {
		ph := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			ph[i] = arg(s)
		}
		q.WriteString(" AND status IN (" + strings.Join(ph, ", ") + ")")
	}
	if !f.Since.IsZero() {
		q.WriteString(" AND created_ms >= " + arg(ms(f.Since)))
	}
	if !f.Until.IsZero() {
		q.WriteString(" AND created_ms < " + arg(ms(f.Until)))
	}
	if f.Cursor != "" {
		c, id, ok := parseCursor(f.Cursor)
		if !ok {
			return Page{}, &knownError{fmt.Errorf("%w: %q", ErrCursor, f.Cursor)}
		}
		q.WriteString(" AND (created_ms < " + arg(c) + " OR (created_ms = " + arg(c) + " AND id < " + arg(id) + "))")
	}
	q.WriteString(" ORDER BY created_ms DESC, id DESC LIMIT " + arg(limit+1))
	rows, err := a.l.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return Page{}, a.l.unavailable(err)
	}
	defer rows.Close()
	var p Page
	var lastID int64
	for rows.Next() {
		var id int64
		o, err := scanOrderID(rows, &id)
		if err != nil {
			return Page{}, a.l.unavailable(err)
		}
		if len(p.Orders) == limit {
			last := p.Orders[limit-1]
			p.Next = fmt.Sprintf("%d.%d", ms(last.CreatedAt), lastID)
			break
		}
		p.Orders = append(p.Orders, o)
		lastID = id
	}
	return p, a.l.unavailable(rows.Err())
}

func parseCursor(s string) (created, id int64, ok bool) {
	a, b, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	c, err1 := strconv.ParseInt(a, 10, 64)
	i, err2 := strconv.ParseInt(b, 10, 64)
	return c, i, err1 == nil && err2 == nil
}

// Unfinished returns the orders that are neither paid nor closed and were
// created at or after since, oldest first: the watches to resume after a
// restart.
func (a *Account) Unfinished(ctx context.Context, since time.Time) ([]Order, error) {
	return a.selectOrders(ctx, `status IN ($3, $4) AND created_ms >= $5`, StatusNotOpened, alipay.TradeWaitBuyerPay, ms(since))
}
