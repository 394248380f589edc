package localalipay

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// Trade statuses, as Alipay names them.
const (
	StatusWaitBuyerPay = alipay.TradeWaitBuyerPay
	StatusSuccess      = alipay.TradeSuccess
	StatusClosed       = alipay.TradeClosed
	StatusFinished     = alipay.TradeFinished
)

// Reasons a trade was closed.
const (
	closedByAPI     = "closed"         // alipay.trade.close or the control API
	closedByExpiry  = "expired"        // timeout_express / time_expire passed
	closedByRefund  = "fully_refunded" // a full refund
	defaultLifetime = 15 * 24 * time.Hour
)

// trade is one row of the trades table. Money is in fen.
type trade struct {
	ID           int64
	AppID        string
	OutTradeNo   string
	TradeNo      string
	Method       string
	ProductCode  string
	Subject      string
	Body         string
	Total        alipay.Amount
	Status       string
	NotifyURL    string
	ReturnURL    string
	QuitURL      string
	Passback     string
	SignType     alipay.SignType
	Fingerprint  string
	PayToken     string
	Created      time.Time
	Expires      time.Time
	Paid         time.Time
	Closed       time.Time
	CloseReason  string
	BuyerID      string
	BuyerLogonID string
	Refunded     alipay.Amount
}

// paid reports whether the buyer has paid (even if later refunded).
func (t *trade) paid() bool { return !t.Paid.IsZero() }

const tradeCols = `id, app_id, out_trade_no, trade_no, method, product_code, subject, body, total_fen, status,
	notify_url, return_url, quit_url, passback_params, sign_type, fingerprint, pay_token, created_ms, expires_ms,
	paid_ms, closed_ms, close_reason, buyer_id, buyer_logon_id, refunded_fen`

type scanner interface{ Scan(dest ...any) error }

func scanTrade(r scanner) (*trade, error) {
	var t trade
	var total, refunded, created, expires, paid, closed int64
	var signType string
	err := r.Scan(&t.ID, &t.AppID, &t.OutTradeNo, &t.TradeNo, &t.Method, &t.ProductCode, &t.Subject, &t.Body,
		&total, &t.Status, &t.NotifyURL, &t.ReturnURL, &t.QuitURL, &t.Passback, &signType, &t.Fingerprint,
		&t.PayToken, &created, &expires, &paid, &closed, &t.CloseReason, &t.BuyerID, &t.BuyerLogonID, &refunded)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read trade: %w", err)
	}
	t.Total, t.Refunded = alipay.Amount(total), alipay.Amount(refunded)
	t.SignType = alipay.SignType(signType)
	t.Created, t.Expires, t.Paid, t.Closed = fromMS(created), fromMS(expires), fromMS(paid), fromMS(closed)
	return &t, nil
}

// tradeRef names a trade the way Alipay's APIs do: trade_no wins when both
// are given.
type tradeRef struct {
	TradeNo    string
	OutTradeNo string
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getTrade(ctx context.Context, q querier, ref tradeRef) (*trade, error) {
	if ref.TradeNo != "" {
		return scanTrade(q.QueryRowContext(ctx, "SELECT "+tradeCols+" FROM trades WHERE trade_no = ?", ref.TradeNo))
	}
	return scanTrade(q.QueryRowContext(ctx, "SELECT "+tradeCols+" FROM trades WHERE out_trade_no = ?", ref.OutTradeNo))
}

// bizError is a 40004 Business Failed answer.
type bizError struct {
	Sub string // ACQ.*
	Msg string // sub_msg
}

func (e *bizError) Error() string { return e.Sub + ": " + e.Msg }

func errInvalidParam(format string, args ...any) *bizError {
	return &bizError{Sub: alipay.SubInvalidParameter, Msg: "参数无效: " + fmt.Sprintf(format, args...)}
}

var (
	errTradeNotExist       = &bizError{Sub: alipay.SubTradeNotExist, Msg: "交易不存在"}
	errTradeStatus         = &bizError{Sub: alipay.SubTradeStatusError, Msg: "交易状态不合法"}
	errTradeHasSuccess     = &bizError{Sub: "ACQ.TRADE_HAS_SUCCESS", Msg: "交易已被支付"}
	errTradeHasClose       = &bizError{Sub: "ACQ.TRADE_HAS_CLOSE", Msg: "交易已经关闭"}
	errContextInconsistent = &bizError{Sub: "ACQ.CONTEXT_INCONSISTENT", Msg: "交易信息被篡改"}
	errDiscordantRepeat    = &bizError{Sub: alipay.SubDiscordantRepeat, Msg: "不一致的请求"}
	errRefundFee           = &bizError{Sub: alipay.SubRefundFeeErr, Msg: "退款金额无效"}
	errRefundNotTotal      = &bizError{Sub: "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", Msg: "撤销或退款金额与订单金额不一致"}
	errTradeHasFinished    = &bizError{Sub: "ACQ.TRADE_HAS_FINISHED", Msg: "交易已完结"}
	errBadPayToken         = &bizError{Sub: "LOCAL.INVALID_PAY_TOKEN", Msg: "支付表单已失效, 请重新打开收银台 (the pay form is not valid for this trade; open the cashier again)"}
)

// expireIfDue closes an unpaid trade whose time is up, with its TRADE_CLOSED
// notification, inside tx.
func (s *Server) expireIfDue(ctx context.Context, tx *sql.Tx, t *trade, now time.Time) error {
	if t.Status != StatusWaitBuyerPay || t.Expires.IsZero() || now.Before(t.Expires) {
		return nil
	}
	return s.closeInTx(ctx, tx, t, closedByExpiry, t.Expires, "")
}

// closeInTx marks t closed and enqueues the TRADE_CLOSED notification.
func (s *Server) closeInTx(ctx context.Context, tx *sql.Tx, t *trade, reason string, at time.Time, notifyURL string) error {
	_, err := tx.ExecContext(ctx, `UPDATE trades SET status = ?, closed_ms = ?, close_reason = ? WHERE id = ?`,
		StatusClosed, ms(at), reason, t.ID)
	if err != nil {
		return fmt.Errorf("close trade: %w", err)
	}
	t.Status, t.Closed, t.CloseReason = StatusClosed, at, reason
	if notifyURL == "" {
		notifyURL = t.NotifyURL
	}
	return s.enqueue(ctx, tx, t, notifyURL, kindClose, nil, at)
}

// loadTrade finds a trade in tx and applies a due expiry first.
func (s *Server) loadTrade(ctx context.Context, tx *sql.Tx, ref tradeRef, now time.Time) (*trade, error) {
	t, err := getTrade(ctx, tx, ref)
	if errors.Is(err, errNotFound) {
		return nil, errTradeNotExist
	}
	if err != nil {
		return nil, err
	}
	if err := s.expireIfDue(ctx, tx, t, now); err != nil {
		return nil, err
	}
	return t, nil
}

// openTrade is the cashier being opened for a verified page/wap pay request:
// the trade is created (WAIT_BUYER_PAY) on first opening; opening it again
// with the same content shows the same trade.
func (s *Server) openTrade(ctx context.Context, p *payOrder, now time.Time) (*trade, error) {
	var out *trade
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		t, err := s.loadTrade(ctx, tx, tradeRef{OutTradeNo: p.OutTradeNo}, now)
		if errors.Is(err, errTradeNotExist) {
			out, err = s.insertTrade(ctx, tx, p, now)
			return err
		}
		if err != nil {
			return err
		}
		out = t
		switch {
		case t.paid():
			return errTradeHasSuccess
		case t.Status == StatusClosed:
			return errTradeHasClose
		case t.Fingerprint != p.fingerprint():
			return errContextInconsistent
		}
		return nil
	})
	return out, err
}

func (s *Server) insertTrade(ctx context.Context, tx *sql.Tx, p *payOrder, now time.Time) (*trade, error) {
	expires, err := p.expiry(now)
	if err != nil {
		return nil, err
	}
	t := &trade{
		AppID: s.id.AppID, OutTradeNo: p.OutTradeNo, TradeNo: newTradeNo(now), Method: p.Method,
		ProductCode: p.ProductCode, Subject: p.Subject, Body: p.Body, Total: p.Total, Status: StatusWaitBuyerPay,
		NotifyURL: p.NotifyURL, ReturnURL: p.ReturnURL, QuitURL: p.QuitURL, Passback: p.Passback,
		SignType: p.SignType, Fingerprint: p.fingerprint(), PayToken: randomHex(16), Created: now, Expires: expires,
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO trades (app_id, out_trade_no, trade_no, method, product_code,
		subject, body, total_fen, status, notify_url, return_url, quit_url, passback_params, sign_type, fingerprint,
		pay_token, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.AppID, t.OutTradeNo, t.TradeNo, t.Method, t.ProductCode, t.Subject, t.Body, int64(t.Total), t.Status,
		t.NotifyURL, t.ReturnURL, t.QuitURL, t.Passback, string(t.SignType), t.Fingerprint, t.PayToken, ms(now),
		ms(expires))
	if err != nil {
		return nil, fmt.Errorf("create trade: %w", err)
	}
	t.ID, _ = res.LastInsertId()
	return t, nil
}

// payTrade makes a WAIT_BUYER_PAY trade TRADE_SUCCESS and enqueues the
// payment notification. token must match the trade's pay token unless
// checkToken is false (the control API). Paying a paid trade again is not an
// error: already reports it, so a double click lands on the same redirect.
func (s *Server) payTrade(ctx context.Context, ref tradeRef, token string, checkToken bool, now time.Time) (t *trade, already bool, err error) {
	err = s.st.tx(ctx, func(tx *sql.Tx) error {
		t, err = s.loadTrade(ctx, tx, ref, now)
		if err != nil {
			return err
		}
		if checkToken && subtle.ConstantTimeCompare([]byte(token), []byte(t.PayToken)) != 1 {
			return errBadPayToken
		}
		switch {
		case t.paid():
			already = true
			return nil
		case t.Status != StatusWaitBuyerPay:
			return errTradeHasClose
		}
		t.Status, t.Paid = StatusSuccess, now
		t.BuyerID = "2088" + randomDigits(12)
		t.BuyerLogonID = "138****" + randomDigits(4)
		_, err := tx.ExecContext(ctx, `UPDATE trades SET status = ?, paid_ms = ?, buyer_id = ?, buyer_logon_id = ?
			WHERE id = ? AND status = ?`, t.Status, ms(now), t.BuyerID, t.BuyerLogonID, t.ID, StatusWaitBuyerPay)
		if err != nil {
			return fmt.Errorf("pay trade: %w", err)
		}
		return s.enqueue(ctx, tx, t, t.NotifyURL, kindPayment, nil, now)
	})
	return t, already, err
}

// closeTrade is alipay.trade.close: only WAIT_BUYER_PAY trades close.
func (s *Server) closeTrade(ctx context.Context, ref tradeRef, notifyURL string, now time.Time) (*trade, error) {
	return s.changeUnpaid(ctx, ref, now, func(tx *sql.Tx, t *trade) error {
		return s.closeInTx(ctx, tx, t, closedByAPI, now, notifyURL)
	})
}

// expireTrade makes an unpaid trade's time run out now (control API).
func (s *Server) expireTrade(ctx context.Context, ref tradeRef, now time.Time) (*trade, error) {
	return s.changeUnpaid(ctx, ref, now, func(tx *sql.Tx, t *trade) error {
		if _, err := tx.ExecContext(ctx, `UPDATE trades SET expires_ms = ? WHERE id = ?`, ms(now), t.ID); err != nil {
			return fmt.Errorf("expire trade: %w", err)
		}
		t.Expires = now
		return s.expireIfDue(ctx, tx, t, now)
	})
}

// changeUnpaid loads a trade in a write transaction and, if it is still
// WAIT_BUYER_PAY (after a due expiry), applies change to it in that
// transaction; any other status is ACQ.TRADE_STATUS_ERROR.
func (s *Server) changeUnpaid(ctx context.Context, ref tradeRef, now time.Time, change func(*sql.Tx, *trade) error) (*trade, error) {
	var t *trade
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if t, err = s.loadTrade(ctx, tx, ref, now); err != nil {
			return err
		}
		if t.Status != StatusWaitBuyerPay {
			return errTradeStatus
		}
		return change(tx, t)
	})
	return t, err
}

// queryTrade is alipay.trade.query.
func (s *Server) queryTrade(ctx context.Context, ref tradeRef, now time.Time) (*trade, error) {
	var t *trade
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = s.loadTrade(ctx, tx, ref, now)
		return err
	})
	return t, err
}

// refund is one row of the refunds table.
type refund struct {
	OutRequestNo string
	Amount       alipay.Amount
	Reason       string
	Created      time.Time
}

// refundResult is what alipay.trade.refund answers.
type refundResult struct {
	Trade      *trade
	FundChange bool
	Refund     refund
}

// refundTrade is alipay.trade.refund. Idempotent on (trade, out_request_no):
// the same number and amount answer fund_change=N; another amount is a
// DISCORDANT_REPEAT_REQUEST. An empty outRequestNo means a full refund whose
// request number is the out_trade_no.
func (s *Server) refundTrade(ctx context.Context, ref tradeRef, amount alipay.Amount, outRequestNo, reason string, now time.Time) (*refundResult, error) {
	var res *refundResult
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		t, err := s.loadTrade(ctx, tx, ref, now)
		if err != nil {
			return err
		}
		full := outRequestNo == ""
		reqNo := outRequestNo
		if full {
			reqNo = t.OutTradeNo
		}
		if prev, err := getRefund(ctx, tx, t.ID, reqNo); err == nil {
			if prev.Amount != amount {
				return errDiscordantRepeat
			}
			res = &refundResult{Trade: t, Refund: *prev}
			return nil
		} else if !errors.Is(err, errNotFound) {
			return err
		}
		switch {
		case t.Status == StatusFinished:
			return errTradeHasFinished
		case t.Status != StatusSuccess:
			return errTradeStatus
		case full && amount != t.Total:
			return errRefundNotTotal
		case amount > t.Total-t.Refunded:
			return errRefundFee
		}
		r := refund{OutRequestNo: reqNo, Amount: amount, Reason: reason, Created: now}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refunds (trade_id, out_request_no, amount_fen, reason, created_ms)
			VALUES (?, ?, ?, ?, ?)`, t.ID, reqNo, int64(amount), reason, ms(now)); err != nil {
			return fmt.Errorf("record refund: %w", err)
		}
		t.Refunded += amount
		if t.Refunded == t.Total {
			t.Status, t.Closed, t.CloseReason = StatusClosed, now, closedByRefund
		}
		if _, err := tx.ExecContext(ctx, `UPDATE trades SET refunded_fen = ?, status = ?, closed_ms = ?, close_reason = ?
			WHERE id = ?`, int64(t.Refunded), t.Status, ms(t.Closed), t.CloseReason, t.ID); err != nil {
			return fmt.Errorf("record refund: %w", err)
		}
		res = &refundResult{Trade: t, FundChange: true, Refund: r}
		return s.enqueue(ctx, tx, t, t.NotifyURL, kindRefund, &r, now)
	})
	return res, err
}

func getRefund(ctx context.Context, q querier, tradeID int64, outRequestNo string) (*refund, error) {
	var r refund
	var amount, created int64
	err := q.QueryRowContext(ctx, `SELECT out_request_no, amount_fen, reason, created_ms FROM refunds
		WHERE trade_id = ? AND out_request_no = ?`, tradeID, outRequestNo).Scan(&r.OutRequestNo, &amount, &r.Reason, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read refund: %w", err)
	}
	r.Amount, r.Created = alipay.Amount(amount), fromMS(created)
	return &r, nil
}

// queryRefund is alipay.trade.fastpay.refund.query. A refund that does not
// exist is not an error (Alipay answers 10000 without refund_status).
func (s *Server) queryRefund(ctx context.Context, ref tradeRef, outRequestNo string, now time.Time) (*trade, *refund, error) {
	var t *trade
	var r *refund
	err := s.st.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if t, err = s.loadTrade(ctx, tx, ref, now); err != nil {
			return err
		}
		r, err = getRefund(ctx, tx, t.ID, outRequestNo)
		if errors.Is(err, errNotFound) {
			r, err = nil, nil
		}
		return err
	})
	return t, r, err
}

// newTradeNo makes a 28-character trade number that is recognisably local:
// the date, "LOCAL", then 15 random digits (a real one is 28 digits).
func newTradeNo(now time.Time) string {
	return now.In(alipay.ChinaZone()).Format("20060102") + "LOCAL" + randomDigits(15)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
