package localalipay

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// DefaultNotifySchedule is Alipay's retry schedule after the first, immediate
// attempt: 8 attempts within about 25 hours.
var DefaultNotifySchedule = []time.Duration{
	4 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 15 * time.Hour,
}

// Kinds of notification.
const (
	kindPayment = "payment"
	kindClose   = "close"
	kindRefund  = "refund"
)

// Notification states.
const (
	notifyPending   = "pending"
	notifyDelivered = "delivered"
	notifyFailed    = "failed" // the schedule ran out
)

const (
	notifyTimeout = 10 * time.Second
	leaseDuration = 30 * time.Second // > notifyTimeout: a live lease is never stolen
	notifyBatch   = 8
)

// enqueue stores a signed trade_status_sync notification for t, due now.
// It runs inside the transaction that changed t, so a state change and its
// notification are stored together or not at all. No notify_url, no
// notification.
func (s *Server) enqueue(ctx context.Context, tx *sql.Tx, t *trade, notifyURL, kind string, r *refund, now time.Time) error {
	if notifyURL == "" {
		return nil
	}
	notifyID := now.In(alipay.ChinaZone()).Format("20060102") + randomDigits(26)
	p := s.notificationParams(t, kind, r, notifyID, now)
	body, err := s.signForm(p, t.SignType)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO notifications (trade_id, notify_id, kind, trade_status, url, body, next_ms, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, notifyID, kind, t.Status, notifyURL, body, ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("enqueue notification: %w", err)
	}
	// The notifier is woken after the commit (store.committed): woken
	// now, it would look before the row is visible and sleep a poll.
	return nil
}

// notificationParams are the fields of a notification (notes §7.2).
func (s *Server) notificationParams(t *trade, kind string, r *refund, notifyID string, now time.Time) map[string]string {
	p := map[string]string{
		"notify_time":  alipay.FormatTimestamp(now),
		"notify_type":  "trade_status_sync",
		"notify_id":    notifyID,
		"app_id":       t.AppID,
		"auth_app_id":  t.AppID,
		"charset":      "utf-8",
		"version":      "1.0",
		"trade_no":     t.TradeNo,
		"out_trade_no": t.OutTradeNo,
		"trade_status": t.Status,
		"total_amount": t.Total.String(),
		"subject":      t.Subject,
		"gmt_create":   alipay.FormatTimestamp(t.Created),
		"seller_id":    s.id.SellerID,
	}
	if t.Body != "" {
		p["body"] = t.Body
	}
	if t.Passback != "" {
		p["passback_params"] = t.Passback
	}
	if t.paid() {
		amount := t.Total.String()
		p["buyer_id"] = t.BuyerID
		p["buyer_logon_id"] = t.BuyerLogonID
		p["receipt_amount"] = amount
		p["invoice_amount"] = amount
		p["buyer_pay_amount"] = amount
		p["point_amount"] = zeroAmount
		p["gmt_payment"] = alipay.FormatTimestamp(t.Paid)
		p["fund_bill_list"] = `[{"amount":"` + amount + `","fundChannel":"ALIPAYACCOUNT"}]`
	}
	if t.Status == StatusClosed {
		p["gmt_close"] = alipay.FormatTimestamp(t.Closed)
	}
	if kind == kindRefund && r != nil {
		p["refund_fee"] = t.Refunded.String()
		p["gmt_refund"] = r.Created.In(alipay.ChinaZone()).Format("2006-01-02 15:04:05.000")
		p["out_biz_no"] = r.OutRequestNo
	}
	return p
}

// signForm signs p as Alipay signs notifications and return redirects (all
// parameters but sign and sign_type) and returns it form-encoded, with
// sign_type in the body.
func (s *Server) signForm(p map[string]string, st alipay.SignType) (string, error) {
	if st == "" {
		st = alipay.RSA2
	}
	v, err := alipay.SignNotification(s.id.alipayKey, st, p)
	if err != nil {
		return "", err
	}
	return v.Encode(), nil
}

// kick wakes the notifier without blocking.
func (s *Server) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// runNotifier delivers due notifications and closes expired trades until
// ctx ends. Other processes on the same database do the same; leases keep
// them from sending the same attempt twice.
func (s *Server) runNotifier(ctx context.Context) {
	defer close(s.notifierDone)
	for {
		s.sweepExpired(ctx)
		n := s.deliverDue(ctx)
		if ctx.Err() != nil {
			return
		}
		if n == notifyBatch {
			continue
		}
		wait := s.nextWait(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// nextWait is the time until the earliest pending notification or expiry,
// capped by the poll interval (other processes may add work).
func (s *Server) nextWait(ctx context.Context) time.Duration {
	wait := s.poll
	now := s.now()
	var next sql.NullInt64
	err := s.st.db.QueryRowContext(ctx, `SELECT MIN(t) FROM (
		SELECT MIN(MAX(next_ms, lease_until_ms)) AS t FROM notifications WHERE state = 'pending'
		UNION ALL SELECT MIN(expires_ms) FROM trades WHERE status = 'WAIT_BUYER_PAY' AND expires_ms > 0)`).Scan(&next)
	if err == nil && next.Valid {
		if d := fromMS(next.Int64).Sub(now); d < wait {
			wait = d
		}
	}
	if wait < 5*time.Millisecond {
		wait = 5 * time.Millisecond
	}
	return wait
}

// sweepExpired closes unpaid trades whose time is up, with their TRADE_CLOSED
// notifications, even when nobody looks at them.
func (s *Server) sweepExpired(ctx context.Context) {
	now := s.now()
	// Look before taking the write lock, which other processes share.
	var one int
	if err := s.st.db.QueryRowContext(ctx, `SELECT 1 FROM trades
		WHERE status = 'WAIT_BUYER_PAY' AND expires_ms > 0 AND expires_ms <= ? LIMIT 1`, ms(now)).Scan(&one); err != nil {
		return // sql.ErrNoRows: nothing is due
	}
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+tradeCols+` FROM trades
			WHERE status = 'WAIT_BUYER_PAY' AND expires_ms > 0 AND expires_ms <= ? LIMIT 50`, ms(now))
		if err != nil {
			return err
		}
		var due []*trade
		for rows.Next() {
			t, err := scanTrade(rows)
			if err != nil {
				rows.Close()
				return err
			}
			due = append(due, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range due {
			if err := s.expireIfDue(ctx, tx, t, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("本地支付宝: 关闭过期交易失败 / local alipay: closing expired trades failed", "err", err)
	}
}

// claimed is a notification leased by this server for one attempt.
type claimed struct {
	ID       int64
	NotifyID string
	URL      string
	Body     string
	Attempts int
	Retry    int
}

// deliverDue claims due notifications, sends them and records the results.
// It returns how many it claimed.
func (s *Server) deliverDue(ctx context.Context) int {
	now := s.now()
	var one int
	if err := s.st.db.QueryRowContext(ctx, `SELECT 1 FROM notifications
		WHERE state = 'pending' AND next_ms <= ? AND lease_until_ms <= ? LIMIT 1`, ms(now), ms(now)).Scan(&one); err != nil {
		return 0 // sql.ErrNoRows: nothing is due
	}
	var batch []claimed
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET lease_owner = ?, lease_until_ms = ?
			WHERE id IN (SELECT id FROM notifications WHERE state = 'pending' AND next_ms <= ? AND lease_until_ms <= ?
				ORDER BY next_ms LIMIT ?)
			RETURNING id, notify_id, url, body, attempts, retry_index`, s.instance, ms(now.Add(leaseDuration)), ms(now), ms(now), notifyBatch)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			if err := rows.Scan(&c.ID, &c.NotifyID, &c.URL, &c.Body, &c.Attempts, &c.Retry); err != nil {
				return err
			}
			batch = append(batch, c)
		}
		return rows.Err()
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("本地支付宝: 领取待发通知失败 / local alipay: claiming notifications failed", "err", err)
		}
		return 0
	}
	var wg sync.WaitGroup
	for _, c := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliver(ctx, c)
		}()
	}
	wg.Wait()
	return len(batch)
}

// attemptResult is what one POST to notify_url gave.
type attemptResult struct {
	Status   int
	Response string
	Err      string
	OK       bool
}

// deliver makes one attempt and records it. An attempt cut short by Close is
// not counted: its lease is released so that it is sent again.
func (s *Server) deliver(ctx context.Context, c claimed) {
	res := s.post(ctx, c)
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = s.st.db.ExecContext(rctx, `UPDATE notifications SET lease_owner = '', lease_until_ms = 0
			WHERE id = ? AND lease_owner = ?`, c.ID, s.instance)
		return
	}
	now := s.now()
	state, next, delivered := notifyPending, int64(0), int64(0)
	switch {
	case res.OK:
		state, delivered = notifyDelivered, ms(now)
	case c.Retry < len(s.schedule):
		next = ms(now.Add(s.schedule[c.Retry]))
	default:
		state = notifyFailed
	}
	// Record the attempt even if Close comes now: it was made.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n := 0
	err := s.st.tx(rctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(rctx, `UPDATE notifications SET attempts = attempts + 1 WHERE id = ?
			RETURNING attempts`, c.ID).Scan(&n); err != nil {
			return err
		}
		ok := 0
		if res.OK {
			ok = 1
		}
		if _, err := tx.ExecContext(rctx, `INSERT INTO notification_attempts (notification_id, n, at_ms, http_status, response, error, ok)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, n, ms(now), res.Status, res.Response, res.Err, ok); err != nil {
			return err
		}
		// The state moves on only if the lease is still ours: a resend
		// during this attempt released it and set its own schedule.
		_, err := tx.ExecContext(rctx, `UPDATE notifications SET state = ?, retry_index = retry_index + 1,
			next_ms = CASE WHEN ? > 0 THEN ? ELSE next_ms END, delivered_ms = ?, lease_owner = '', lease_until_ms = 0
			WHERE id = ? AND lease_owner = ?`, state, next, next, delivered, c.ID, s.instance)
		return err
	})
	if err != nil {
		s.log.Warn("本地支付宝: 记录通知发送失败 / local alipay: recording a notification attempt failed", "notify_id", c.NotifyID, "err", err)
	}
	s.log.Info("本地支付宝: 已发送通知 / local alipay: notification sent", "notify_id", c.NotifyID, "attempt", n, "ok", res.OK,
		"status", res.Status, "state", state)
}

// post sends the form. Success is HTTP 200 with the body exactly "success".
func (s *Server) post(ctx context.Context, c claimed) attemptResult {
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, strings.NewReader(c.Body))
	if err != nil {
		return attemptResult{Err: "notify_url 无效 (bad notify_url): " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "Mozilla/4.0 (LOCAL Alipay notifier; not the real Alipay)")
	resp, err := s.notifyClient.Do(req)
	if err != nil {
		return attemptResult{Err: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	res := attemptResult{Status: resp.StatusCode, Response: string(b)}
	res.OK = resp.StatusCode == http.StatusOK && string(b) == "success"
	if !res.OK && resp.StatusCode == http.StatusOK {
		res.Err = `应答必须恰好是 success 七个字符 / the body must be exactly "success"`
	}
	return res
}

// releaseLeases frees this server's leases (Close).
func (s *Server) releaseLeases() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = s.st.db.ExecContext(ctx, `UPDATE notifications SET lease_owner = '', lease_until_ms = 0 WHERE lease_owner = ?`, s.instance)
}
