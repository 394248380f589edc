package localalipay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// TradeInfo is a trade as the control API shows it. Amounts are yuan
// strings with two decimals; times are Beijing time "yyyy-MM-dd HH:mm:ss".
type TradeInfo struct {
	OutTradeNo     string `json:"out_trade_no"`
	TradeNo        string `json:"trade_no"`
	Method         string `json:"method"`
	ProductCode    string `json:"product_code"`
	Subject        string `json:"subject"`
	Body           string `json:"body,omitempty"`
	TotalAmount    string `json:"total_amount"`
	RefundedAmount string `json:"refunded_amount"`
	Status         string `json:"trade_status"`
	CreatedAt      string `json:"gmt_create"`
	ExpiresAt      string `json:"time_expire,omitempty"`
	PaidAt         string `json:"gmt_payment,omitempty"`
	ClosedAt       string `json:"gmt_close,omitempty"`
	CloseReason    string `json:"close_reason,omitempty"`
	BuyerID        string `json:"buyer_id,omitempty"`
	BuyerLogonID   string `json:"buyer_logon_id,omitempty"`
	NotifyURL      string `json:"notify_url,omitempty"`
	ReturnURL      string `json:"return_url,omitempty"`
}

// RefundInfo is one refund of a trade.
type RefundInfo struct {
	OutRequestNo string `json:"out_request_no"`
	RefundAmount string `json:"refund_amount"`
	RefundReason string `json:"refund_reason,omitempty"`
	CreatedAt    string `json:"gmt_refund_pay"`
}

// NotificationInfo is one notification with its delivery attempts.
type NotificationInfo struct {
	NotifyID    string            `json:"notify_id"`
	Kind        string            `json:"kind"` // payment, close, refund
	TradeStatus string            `json:"trade_status"`
	URL         string            `json:"notify_url"`
	State       string            `json:"state"` // pending, delivered, failed
	Attempts    int               `json:"attempts"`
	NextAt      string            `json:"next_attempt_at,omitempty"`
	DeliveredAt string            `json:"delivered_at,omitempty"`
	Params      map[string]string `json:"params"`
	Log         []AttemptInfo     `json:"attempt_log"`
}

// AttemptInfo is one POST to a notify_url.
type AttemptInfo struct {
	N          int    `json:"n"`
	At         string `json:"at"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Response   string `json:"response,omitempty"`
	Error      string `json:"error,omitempty"`
	OK         bool   `json:"ok"`
}

// TradeDetail is a trade with its refunds and notifications.
type TradeDetail struct {
	TradeInfo
	Refunds       []RefundInfo       `json:"refunds"`
	Notifications []NotificationInfo `json:"notifications"`
}

// ErrNoTrade is returned by the control methods for an unknown out_trade_no.
var ErrNoTrade = errors.New("交易不存在: 支付链接打开后才会创建交易 / no such trade: the trade exists only once its payment link was opened")

// ErrNoNotification is returned for an unknown notify_id.
var ErrNoNotification = errors.New("通知不存在 / no such notification")

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return alipay.FormatTimestamp(t)
}

func (t *trade) info() TradeInfo {
	return TradeInfo{
		OutTradeNo: t.OutTradeNo, TradeNo: t.TradeNo, Method: t.Method, ProductCode: t.ProductCode,
		Subject: t.Subject, Body: t.Body, TotalAmount: t.Total.String(), RefundedAmount: t.Refunded.String(),
		Status: t.Status, CreatedAt: formatTime(t.Created), ExpiresAt: formatTime(t.Expires),
		PaidAt: formatTime(t.Paid), ClosedAt: formatTime(t.Closed), CloseReason: t.CloseReason,
		BuyerID: t.BuyerID, BuyerLogonID: t.BuyerLogonID, NotifyURL: t.NotifyURL, ReturnURL: t.ReturnURL,
	}
}

// Trades lists trades, newest first: at most limit, which is capped at
// 1000; 0 = 100.
func (s *Server) Trades(ctx context.Context, limit int) ([]TradeInfo, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxTradesLimit)
	s.sweepExpired(ctx)
	rows, err := s.st.db.QueryContext(ctx, "SELECT "+tradeCols+" FROM trades ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list trades: %w", err)
	}
	defer rows.Close()
	out := []TradeInfo{}
	for rows.Next() {
		t, err := scanTrade(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t.info())
	}
	return out, rows.Err()
}

// controlErr maps the business errors of the trade operations to the
// control API's errors.
func controlErr(err error) error {
	if errors.Is(err, errTradeNotExist) {
		return ErrNoTrade
	}
	return err
}

// Trade returns one trade with its refunds and notifications, read in one
// transaction so that they agree with each other.
func (s *Server) Trade(ctx context.Context, outTradeNo string) (*TradeDetail, error) {
	var d *TradeDetail
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		t, err := s.loadTrade(ctx, tx, tradeRef{OutTradeNo: outTradeNo}, s.now())
		if err != nil {
			return err
		}
		d = &TradeDetail{TradeInfo: t.info()}
		if d.Refunds, err = listRefunds(ctx, tx, t.ID); err != nil {
			return err
		}
		d.Notifications, err = listNotifications(ctx, tx, t.ID)
		return err
	})
	if err != nil {
		return nil, controlErr(err)
	}
	return d, nil
}

// listRefunds returns the refunds of a trade, oldest first.
func listRefunds(ctx context.Context, tx *sql.Tx, tradeID int64) ([]RefundInfo, error) {
	rows, err := tx.QueryContext(ctx, `SELECT out_request_no, amount_fen, reason, created_ms FROM refunds
		WHERE trade_id = ? ORDER BY id`, tradeID)
	if err != nil {
		return nil, fmt.Errorf("list refunds: %w", err)
	}
	defer rows.Close()
	out := []RefundInfo{}
	for rows.Next() {
		var r RefundInfo
		var amount, created int64
		if err := rows.Scan(&r.OutRequestNo, &amount, &r.RefundReason, &created); err != nil {
			return nil, fmt.Errorf("list refunds: %w", err)
		}
		r.RefundAmount, r.CreatedAt = alipay.Amount(amount).String(), formatTime(fromMS(created))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list refunds: %w", err)
	}
	return out, nil
}

// listNotifications returns the notifications of a trade, oldest first,
// each with its attempt log.
func listNotifications(ctx context.Context, tx *sql.Tx, tradeID int64) ([]NotificationInfo, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, notify_id, kind, trade_status, url, body, state, attempts,
		next_ms, delivered_ms FROM notifications WHERE trade_id = ? ORDER BY id`, tradeID)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	out := []NotificationInfo{}
	byID := map[int64]int{} // notification id → index in out
	for rows.Next() {
		var n NotificationInfo
		var id, next, delivered int64
		var body string
		if err := rows.Scan(&id, &n.NotifyID, &n.Kind, &n.TradeStatus, &n.URL, &body, &n.State, &n.Attempts,
			&next, &delivered); err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		if n.State == notifyPending {
			n.NextAt = formatTime(fromMS(next))
		}
		n.DeliveredAt = formatTime(fromMS(delivered))
		n.Params = map[string]string{}
		if v, err := url.ParseQuery(body); err == nil {
			for k := range v {
				n.Params[k] = v.Get(k)
			}
		}
		n.Log = []AttemptInfo{}
		byID[id] = len(out)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	// All attempts of the trade in one query, not one per notification.
	arows, err := tx.QueryContext(ctx, `SELECT a.notification_id, a.n, a.at_ms, a.http_status, a.response, a.error, a.ok
		FROM notification_attempts a JOIN notifications n ON n.id = a.notification_id
		WHERE n.trade_id = ? ORDER BY a.id`, tradeID)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var a AttemptInfo
		var id, at int64
		if err := arows.Scan(&id, &a.N, &at, &a.HTTPStatus, &a.Response, &a.Error, &a.OK); err != nil {
			return nil, fmt.Errorf("list attempts: %w", err)
		}
		a.At = formatTime(fromMS(at))
		if i, ok := byID[id]; ok {
			out[i].Log = append(out[i].Log, a)
		}
	}
	if err := arows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return out, nil
}

// PayTrade pays an opened trade without a browser, as the buyer would, and
// returns where the buyer's browser would go (return_url with signed
// parameters, or the local paid page). The trade must exist: a payment link
// creates it only when opened (see PayLink).
func (s *Server) PayTrade(ctx context.Context, outTradeNo string) (string, error) {
	t, _, err := s.payTrade(ctx, tradeRef{OutTradeNo: outTradeNo}, "", false, s.now())
	if err != nil {
		return "", controlErr(err)
	}
	return s.afterPayURL(t, s.url)
}

// CloseTrade closes an unpaid trade, as alipay.trade.close does.
func (s *Server) CloseTrade(ctx context.Context, outTradeNo string) error {
	_, err := s.closeTrade(ctx, tradeRef{OutTradeNo: outTradeNo}, "", s.now())
	return controlErr(err)
}

// ExpireTrade makes an unpaid trade's time run out now: it closes with a
// TRADE_CLOSED notification, as on timeout.
func (s *Server) ExpireTrade(ctx context.Context, outTradeNo string) error {
	_, err := s.expireTrade(ctx, tradeRef{OutTradeNo: outTradeNo}, s.now())
	return controlErr(err)
}

// ResendNotification sends a notification again now, with the same notify_id
// and content, and a fresh retry schedule (the attempt log goes on).
func (s *Server) ResendNotification(ctx context.Context, notifyID string) error {
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE notifications SET state = 'pending', retry_index = 0, next_ms = ?,
			lease_owner = '', lease_until_ms = 0 WHERE notify_id = ?`, ms(s.now()), notifyID)
		if err != nil {
			return fmt.Errorf("resend notification: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return ErrNoNotification
		}
		return nil
	})
	if err == nil {
		s.kick()
	}
	return err
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

// Faults returns the injected faults.
func (s *Server) Faults() Faults { return s.faults.get() }

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() { s.faults.set(Faults{}) }
