package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// Refund states. A refund is reserved (counted against the daily limit)
// before anything else; the human's answer and the request follow.
const (
	RefundReserved  = "reserved"  // recorded, nothing asked or sent yet
	RefundAsked     = "asked"     // the human was asked to confirm
	RefundAccepted  = "accepted"  // the human confirmed
	RefundDeclined  = "declined"  // the human said no: final, not sent
	RefundCancelled = "cancelled" // the question was cancelled: final, not sent
	RefundSent      = "sent"      // the refund request is (about to be) on its way to Alipay
)

// Refund outcomes. An empty outcome on a sent refund is unknown: the process
// may have died before the answer (Settled reports it).
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeUnknown   = "unknown"
)

// Refund is what the ledger knows of one refund request.
type Refund struct {
	OutTradeNo       string
	OutRequestNo     string
	Amount           alipay.Amount
	Reason           string
	Who              string
	State            string
	Outcome          string // "" until settled; OutcomeUnknown when the answer was lost
	ConfirmedByQuery bool
	CreatedAt        time.Time
	SentAt           time.Time
	SettledAt        time.Time
}

// Unsettled reports whether the refund was sent and its outcome is not
// known: the next refund call or query under its outRequestNo must settle
// it with a refund query.
func (r Refund) Unsettled() bool {
	return r.State == RefundSent && (r.Outcome == "" || r.Outcome == OutcomeUnknown)
}

// RefundRequest is a refund about to be asked for.
type RefundRequest struct {
	OutTradeNo   string
	OutRequestNo string
	Amount       alipay.Amount
	Reason       string
	Who          string
	// DailyLimit is AP_REFUND_DAILY_LIMIT: the most all refunds of one
	// Beijing-time day may add up to; 0 means no limit.
	DailyLimit alipay.Amount
	// Total is the trade total when the caller knows it (a query); 0 means
	// the ledger's own record of the order, if any.
	Total alipay.Amount
}

// ErrDailyLimit is wrapped when a refund would pass AP_REFUND_DAILY_LIMIT.
var ErrDailyLimit = errors.New("超过每日退款上限 / over the daily refund limit (AP_REFUND_DAILY_LIMIT)")

// ErrOverRefund is wrapped when a refund is more than remains refundable.
var ErrOverRefund = errors.New("退款金额超过可退金额 / refund larger than what remains refundable")

// ErrRefundMismatch is wrapped when an outRequestNo is reused with another
// amount.
var ErrRefundMismatch = errors.New("退款请求号已用于不同金额 / outRequestNo already used with another amount")

// LimitError is a refusal of ReserveRefund with the figures.
type LimitError struct {
	Kind      error         // ErrDailyLimit or ErrOverRefund
	Limit     alipay.Amount // the daily limit, or the trade total
	Used      alipay.Amount // refunded (or reserved) so far
	Remaining alipay.Amount
}

func (e *LimitError) Error() string {
	if errors.Is(e.Kind, ErrOverRefund) {
		return fmt.Sprintf("%v: 订单金额 %s 元, 已退 %s 元, 剩余可退 %s 元 / total %s, refunded %s, %s remains",
			e.Kind, e.Limit, e.Used, e.Remaining, e.Limit, e.Used, e.Remaining)
	}
	return fmt.Sprintf("%v: 今日 (北京时间) 上限 %s 元, 已用 %s 元, 剩余 %s 元 / today's (Beijing time) limit %s, used %s, %s remains",
		e.Kind, e.Limit, e.Used, e.Remaining, e.Limit, e.Used, e.Remaining)
}

func (e *LimitError) Unwrap() error { return e.Kind }

// beijing is UTC+8, the day AP_REFUND_DAILY_LIMIT counts in.
var beijing = time.FixedZone("Asia/Shanghai", 8*3600)

// BeijingDay is the Beijing-time date of t, "2006-01-02".
func BeijingDay(t time.Time) string { return t.In(beijing).Format("2006-01-02") }

// PendingRefundLifetime is how long a refund reserved, asked or accepted
// but never sent keeps its share of the daily limit after its last step:
// longer than any confirmation can wait (a question expires after 10
// minutes, and the call that sends follows the answer at once). Every
// refusal after the reservation records RefundCancelled and gives the
// share back at once; this lifetime covers a process that died, or a
// question never answered.
const PendingRefundLifetime = 30 * time.Minute

// stalePending is the SQL condition of a refund reserved, asked or
// accepted whose last step is older than the cutoff (parameter $n): never
// sent, and no longer counted.
func stalePending(n int) string {
	return fmt.Sprintf(`(state IN ('reserved', 'asked', 'accepted') AND
	COALESCE((SELECT MAX(s.at_ms) FROM ap_refund_steps s WHERE s.refund_id = ap_refunds.id), ap_refunds.created_ms) < $%d)`, n)
}

// counted is the SQL condition of a refund that counts against the daily
// limit: every refund not declined, cancelled or failed, and not pending
// longer than PendingRefundLifetime ($4 is the cutoff).
var counted = `state NOT IN ('declined', 'cancelled') AND outcome <> 'failed' AND NOT ` + stalePending(4)

// ReserveRefund records a refund before the human is asked and before the
// refund API is called, checking in the same transaction that it neither
// passes the daily limit (for every process sharing the ledger: SQLite's
// write lock, PostgreSQL's advisory lock per app, environment and day) nor
// exceeds what remains refundable. The same outRequestNo again returns the
// refund already recorded (existing=true) without counting it twice; one
// that was declined, cancelled or failed, or left pending longer than
// PendingRefundLifetime, is checked again and counted anew.
func (a *Account) ReserveRefund(ctx context.Context, r RefundRequest) (ref Refund, existing bool, err error) {
	now := a.l.now()
	day := BeijingDay(now)
	err = a.l.write(ctx, func(ctx context.Context, tx *txn) error {
		if err := a.l.d.lock(ctx, tx.Tx, "refund-day:"+a.Env+":"+a.AppID+":"+day); err != nil {
			return err
		}
		id, got, err := a.refundRow(ctx, tx, r.OutTradeNo, r.OutRequestNo, a.l.d.forUpdate)
		again := false // a declined, cancelled or failed refund asked for again
		if err == nil {
			if got.Amount != r.Amount {
				return &knownError{fmt.Errorf("%w: %s 已记录为 %s 元 / %s was recorded as %s yuan",
					ErrRefundMismatch, r.OutRequestNo, got.Amount, r.OutRequestNo, got.Amount)}
			}
			ref, existing = got, true
			var stale int
			if err := tx.QueryRowContext(ctx, `SELECT CASE WHEN `+stalePending(2)+` THEN 1 ELSE 0 END FROM ap_refunds WHERE id = $1`,
				id, ms(now.Add(-PendingRefundLifetime))).Scan(&stale); err != nil {
				return err
			}
			if got.State != RefundDeclined && got.State != RefundCancelled && got.Outcome != OutcomeFailed && stale == 0 {
				return nil // still counted: a retry, or the second call of a confirmation
			}
			again = true
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		total := r.Total
		if total == 0 {
			var t int64
			err := tx.QueryRowContext(ctx, `SELECT amount_fen FROM ap_orders WHERE app_id = $1 AND env = $2 AND out_trade_no = $3`,
				a.AppID, a.Env, r.OutTradeNo).Scan(&t)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			total = alipay.Amount(t)
		}
		if total > 0 {
			var refunded int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM ap_refunds
				WHERE app_id = $1 AND env = $2 AND out_trade_no = $3 AND outcome = 'succeeded'`,
				a.AppID, a.Env, r.OutTradeNo).Scan(&refunded); err != nil {
				return err
			}
			if alipay.Amount(refunded)+r.Amount > total {
				return &knownError{&LimitError{Kind: ErrOverRefund, Limit: total, Used: alipay.Amount(refunded),
					Remaining: max(total-alipay.Amount(refunded), 0)}}
			}
		}
		if r.DailyLimit > 0 {
			var used int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM ap_refunds
				WHERE app_id = $1 AND env = $2 AND day = $3 AND `+counted, a.AppID, a.Env, day,
				ms(now.Add(-PendingRefundLifetime))).Scan(&used); err != nil {
				return err
			}
			if alipay.Amount(used)+r.Amount > r.DailyLimit {
				return &knownError{&LimitError{Kind: ErrDailyLimit, Limit: r.DailyLimit, Used: alipay.Amount(used),
					Remaining: max(r.DailyLimit-alipay.Amount(used), 0)}}
			}
		}
		if again {
			if _, err := tx.ExecContext(ctx, `UPDATE ap_refunds SET state = $2, outcome = '', day = $3 WHERE id = $1`,
				id, RefundReserved, day); err != nil {
				return err
			}
			ref.State, ref.Outcome = RefundReserved, ""
			return addStep(ctx, tx, id, RefundReserved, r.Who, "asked again", now)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO ap_refunds
			(app_id, env, out_trade_no, out_request_no, amount_fen, reason, who, state, day, created_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			a.AppID, a.Env, r.OutTradeNo, r.OutRequestNo, int64(r.Amount), r.Reason, r.Who, RefundReserved, day, ms(now)).Scan(&id); err != nil {
			return err
		}
		if err := addStep(ctx, tx, id, RefundReserved, r.Who, "", now); err != nil {
			return err
		}
		ref = Refund{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Amount: r.Amount, Reason: r.Reason,
			Who: r.Who, State: RefundReserved, CreatedAt: fromMS(ms(now))}
		return nil
	})
	return ref, existing, err
}

func addStep(ctx context.Context, tx *txn, refundID int64, step, who, detail string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO ap_refund_steps (refund_id, step, who, detail, at_ms) VALUES ($1, $2, $3, $4, $5)`,
		refundID, step, who, detail, ms(at))
	return err
}

const refundColumns = `id, out_trade_no, out_request_no, amount_fen, reason, who, state, outcome, confirmed_by_query, created_ms, sent_ms, settled_ms`

func scanRefund(row interface{ Scan(...any) error }) (int64, Refund, error) {
	var id, amount, byQuery, created, sent, settled int64
	var r Refund
	err := row.Scan(&id, &r.OutTradeNo, &r.OutRequestNo, &amount, &r.Reason, &r.Who, &r.State, &r.Outcome, &byQuery,
		&created, &sent, &settled)
	r.Amount, r.ConfirmedByQuery = alipay.Amount(amount), byQuery != 0
	r.CreatedAt, r.SentAt, r.SettledAt = fromMS(created), fromMS(sent), fromMS(settled)
	return id, r, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (a *Account) refundRow(ctx context.Context, q querier, outTradeNo, outRequestNo string, lock string) (int64, Refund, error) {
	id, r, err := scanRefund(q.QueryRowContext(ctx, `SELECT `+refundColumns+` FROM ap_refunds
		WHERE app_id = $1 AND env = $2 AND out_trade_no = $3 AND out_request_no = $4`+lock,
		a.AppID, a.Env, outTradeNo, outRequestNo))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, Refund{}, &knownError{fmt.Errorf("%s/%s: %w", outTradeNo, outRequestNo, ErrNotFound)}
	}
	return id, r, err
}

func (a *Account) refund(ctx context.Context, q querier, outTradeNo, outRequestNo string) (Refund, error) {
	_, r, err := a.refundRow(ctx, q, outTradeNo, outRequestNo, "")
	return r, err
}

// Refund returns the refund recorded under outTradeNo and outRequestNo, or
// ErrNotFound.
func (a *Account) Refund(ctx context.Context, outTradeNo, outRequestNo string) (Refund, error) {
	r, err := a.refund(ctx, a.l.db, outTradeNo, outRequestNo)
	return r, a.l.unavailable(err)
}

// Refunds returns the order's refunds, oldest first.
func (a *Account) Refunds(ctx context.Context, outTradeNo string) ([]Refund, error) {
	return a.selectRefunds(ctx, `out_trade_no = $3`, outTradeNo)
}

// selectRefunds returns the account's refunds that match cond (its
// placeholders start at $3), oldest first.
func (a *Account) selectRefunds(ctx context.Context, cond string, args ...any) ([]Refund, error) {
	rows, err := a.l.db.QueryContext(ctx, `SELECT `+refundColumns+` FROM ap_refunds
		WHERE app_id = $1 AND env = $2 AND `+cond+` ORDER BY id`, append([]any{a.AppID, a.Env}, args...)...)
	if err != nil {
		return nil, a.l.unavailable(err)
	}
	defer rows.Close()
	var out []Refund
	for rows.Next() {
		_, r, err := scanRefund(rows)
		if err != nil {
			return nil, a.l.unavailable(err)
		}
		out = append(out, r)
	}
	return out, a.l.unavailable(rows.Err())
}

// Refunded is the sum of the order's refunds known to have succeeded.
func (a *Account) Refunded(ctx context.Context, outTradeNo string) (alipay.Amount, error) {
	var v int64
	err := a.l.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM ap_refunds
		WHERE app_id = $1 AND env = $2 AND out_trade_no = $3 AND outcome = 'succeeded'`,
		a.AppID, a.Env, outTradeNo).Scan(&v)
	return alipay.Amount(v), a.l.unavailable(err)
}

// Step records a step of the refund's confirmation (RefundAsked,
// RefundAccepted, RefundDeclined, RefundCancelled) or RefundSent, which must
// be recorded before the refund request leaves. detail is a short note (never
// a key or signed URL).
func (a *Account) Step(ctx context.Context, outTradeNo, outRequestNo, step, who, detail string) error {
	switch step {
	case RefundAsked, RefundAccepted, RefundDeclined, RefundCancelled, RefundSent:
	default:
		return &knownError{fmt.Errorf("未知的退款步骤 / unknown refund step %q", step)}
	}
	now := a.l.now()
	return a.l.write(ctx, func(ctx context.Context, tx *txn) error {
		id, r, err := a.refundRow(ctx, tx, outTradeNo, outRequestNo, a.l.d.forUpdate)
		if err != nil {
			return err
		}
		if err := addStep(ctx, tx, id, step, who, detail, now); err != nil {
			return err
		}
		if r.Outcome == OutcomeSucceeded {
			return nil // settled: steps of a retry are history only
		}
		if r.State == RefundSent && step != RefundSent {
			return nil // sent, outcome unknown: it may have moved money, so it stays counted
		}
		sentMS := ms(r.SentAt)
		if step == RefundSent {
			sentMS = ms(now)
		}
		_, err = tx.ExecContext(ctx, `UPDATE ap_refunds SET state = $2, sent_ms = $3 WHERE id = $1`, id, step, sentMS)
		return err
	})
}

// Settle records the refund's outcome: OutcomeSucceeded, OutcomeFailed or
// OutcomeUnknown; byQuery says a refund query confirmed it. A success adds
// to the order's refunded total (once) and publishes EventRefunded.
func (a *Account) Settle(ctx context.Context, outTradeNo, outRequestNo, outcome string, byQuery bool, detail string) error {
	switch outcome {
	case OutcomeSucceeded, OutcomeFailed, OutcomeUnknown:
	default:
		return &knownError{fmt.Errorf("未知的退款结果 / unknown refund outcome %q", outcome)}
	}
	now := a.l.now()
	return a.l.write(ctx, func(ctx context.Context, tx *txn) error {
		id, r, err := a.refundRow(ctx, tx, outTradeNo, outRequestNo, a.l.d.forUpdate)
		if err != nil {
			return err
		}
		step := outcome
		if byQuery {
			step += " (query)"
		}
		if err := addStep(ctx, tx, id, step, "", detail, now); err != nil {
			return err
		}
		if r.Outcome == OutcomeSucceeded {
			return nil // a success never turns into anything else
		}
		bq := 0
		if byQuery {
			bq = 1
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ap_refunds SET outcome = $2, confirmed_by_query = $3, settled_ms = $4,
			state = $5 WHERE id = $1`, id, outcome, bq, ms(now), RefundSent); err != nil {
			return err
		}
		if outcome != OutcomeSucceeded {
			return nil
		}
		tx.events = append(tx.events, Event{Kind: EventRefunded, AppID: a.AppID, Env: a.Env, OutTradeNo: outTradeNo, At: now})
		return nil
	})
}

// Unsettled returns the refunds sent whose outcome is unknown (the process
// died or the answer was lost), oldest first.
func (a *Account) Unsettled(ctx context.Context) ([]Refund, error) {
	return a.selectRefunds(ctx, `state = 'sent' AND outcome IN ('', 'unknown')`)
}

// RefundStep is one recorded step of a refund.
type RefundStep struct {
	Step   string
	Who    string
	Detail string
	At     time.Time
}

// Steps returns the refund's steps, oldest first.
func (a *Account) Steps(ctx context.Context, outTradeNo, outRequestNo string) ([]RefundStep, error) {
	rows, err := a.l.db.QueryContext(ctx, `SELECT s.step, s.who, s.detail, s.at_ms FROM ap_refund_steps s
		JOIN ap_refunds r ON r.id = s.refund_id
		WHERE r.app_id = $1 AND r.env = $2 AND r.out_trade_no = $3 AND r.out_request_no = $4 ORDER BY s.id`,
		a.AppID, a.Env, outTradeNo, outRequestNo)
	if err != nil {
		return nil, a.l.unavailable(err)
	}
	defer rows.Close()
	var out []RefundStep
	for rows.Next() {
		var s RefundStep
		var at int64
		if err := rows.Scan(&s.Step, &s.Who, &s.Detail, &at); err != nil {
			return nil, a.l.unavailable(err)
		}
		s.At = fromMS(at)
		out = append(out, s)
	}
	return out, a.l.unavailable(rows.Err())
}
