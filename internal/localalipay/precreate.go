package localalipay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// qrPath is where a precreated QR code points: scanning it opens the local
// cashier on the phone that scanned it.
const qrPath = "/qr/"

// storedOrder is the part of a payOrder a QR code keeps until it is scanned.
type storedOrder struct {
	OutTradeNo  string          `json:"out_trade_no"`
	ProductCode string          `json:"product_code"`
	TotalFen    int64           `json:"total_fen"`
	Subject     string          `json:"subject"`
	Body        string          `json:"body,omitempty"`
	Passback    string          `json:"passback_params,omitempty"`
	NotifyURL   string          `json:"notify_url,omitempty"`
	SignType    alipay.SignType `json:"sign_type"`
	ExpireMS    int64           `json:"expire_ms"`
}

func (o storedOrder) payOrder() *payOrder {
	return &payOrder{Method: alipay.MethodPrecreate, ProductCode: o.ProductCode, OutTradeNo: o.OutTradeNo,
		Total: alipay.Amount(o.TotalFen), Subject: o.Subject, Body: o.Body, Passback: o.Passback,
		NotifyURL: o.NotifyURL, SignType: o.SignType, TimeExpire: fromMS(o.ExpireMS)}
}

// apiPrecreate is alipay.trade.precreate (当面付): it answers a qr_code and
// creates no trade; the trade appears when the buyer scans the code
// (WAIT_BUYER_PAY), as at Alipay. The same order asked again gets the same
// code. A relative timeout counts from this call. An order already paid is
// ACQ.TRADE_HAS_SUCCESS; one that was closed still gets a code, which then
// fails on scanning (notes §5.6).
func (s *Server) apiPrecreate(ctx context.Context, req *gatewayRequest) (obj, error) {
	p, err := parsePayOrder(req)
	if err != nil {
		return nil, err
	}
	echo := obj{{"out_trade_no", p.OutTradeNo}}
	expires, err := p.expiry(req.Now)
	if err != nil {
		return echo, err
	}
	stored := storedOrder{OutTradeNo: p.OutTradeNo, ProductCode: p.ProductCode, TotalFen: int64(p.Total),
		Subject: p.Subject, Body: p.Body, Passback: p.Passback, NotifyURL: p.NotifyURL, SignType: p.SignType,
		ExpireMS: ms(expires)}
	var code string
	err = s.st.tx(ctx, func(tx *sql.Tx) error {
		t, err := getTrade(ctx, tx, tradeRef{OutTradeNo: p.OutTradeNo})
		switch {
		case errors.Is(err, errNotFound):
		case err != nil:
			return err
		case t.paid():
			return errTradeHasSuccess
		case t.Fingerprint != p.fingerprint():
			return errContextInconsistent
		}
		err = tx.QueryRowContext(ctx, `SELECT code FROM precreates WHERE out_trade_no = ? AND fingerprint = ?
			ORDER BY created_ms DESC LIMIT 1`, p.OutTradeNo, p.fingerprint()).Scan(&code)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read precreate: %w", err)
		}
		b, err := json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("encode precreate: %w", err)
		}
		code = "lcl" + randomHex(12)
		if _, err := tx.ExecContext(ctx, `INSERT INTO precreates (code, out_trade_no, fingerprint, order_json, created_ms)
			VALUES (?, ?, ?, ?, ?)`, code, p.OutTradeNo, p.fingerprint(), string(b), ms(req.Now)); err != nil {
			return fmt.Errorf("record precreate: %w", err)
		}
		return nil
	})
	if err != nil {
		return echo, err
	}
	host := req.Host
	base := s.url
	if host != "" {
		base = "http://" + host
	}
	return obj{{"out_trade_no", p.OutTradeNo}, {"qr_code", base + qrPath + code}}, nil
}

// handleQR is a buyer scanning a precreated QR code: the trade is created
// (or found again) and the phone cashier shown.
func (s *Server) handleQR(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	o, err := s.precreated(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderBizError(w, err)
		return
	}
	t, err := s.openTrade(r.Context(), o.payOrder(), now)
	switch {
	case errors.Is(err, errTradeHasSuccess):
		s.renderPaid(w, t, true)
	case err != nil:
		s.renderBizError(w, err)
	default:
		s.renderCashier(w, r, t, true)
	}
}

// errQRNotFound answers a code this Alipay never issued.
var errQRNotFound = &bizError{Sub: "LOCAL.QR_CODE_NOT_EXIST", Msg: "二维码不存在或已失效 (this QR code was not issued by this LOCAL Alipay)"}

// precreated loads the order behind a QR code.
func (s *Server) precreated(ctx context.Context, code string) (*storedOrder, error) {
	var raw string
	err := s.st.db.QueryRowContext(ctx, `SELECT order_json FROM precreates WHERE code = ?`, code).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errQRNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read precreate: %w", err)
	}
	var o storedOrder
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, fmt.Errorf("decode precreate: %w", err)
	}
	return &o, nil
}
