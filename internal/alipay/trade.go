package alipay

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Methods of the OpenAPI this client speaks.
const (
	MethodPagePay     = "alipay.trade.page.pay"
	MethodWapPay      = "alipay.trade.wap.pay"
	MethodQuery       = "alipay.trade.query"
	MethodRefund      = "alipay.trade.refund"
	MethodRefundQuery = "alipay.trade.fastpay.refund.query"
	MethodClose       = "alipay.trade.close"
)

// Product codes of the two link kinds.
const (
	ProductPagePay = "FAST_INSTANT_TRADE_PAY"
	ProductWapPay  = "QUICK_WAP_WAY"
)

// PayRequest describes a payment link.
type PayRequest struct {
	OutTradeNo     string
	TotalAmount    Amount
	Subject        string
	TimeoutExpress string // relative, e.g. "30m" (optional)
	TimeExpire     string // absolute "yyyy-MM-dd HH:mm:ss" (optional)
	QuitURL        string // wap only: where the buyer lands on abandon (optional)
	ReturnURL      string // overrides Config.ReturnURL
	NotifyURL      string // overrides Config.NotifyURL
}

type payBiz struct {
	OutTradeNo     string `json:"out_trade_no"`
	TotalAmount    string `json:"total_amount"`
	Subject        string `json:"subject"`
	ProductCode    string `json:"product_code"`
	TimeoutExpress string `json:"timeout_express,omitempty"`
	TimeExpire     string `json:"time_expire,omitempty"`
	QuitURL        string `json:"quit_url,omitempty"`
}

// PagePayURL returns the signed link of a desktop payment
// (alipay.trade.page.pay): the cashier shows a QR code to scan.
func (c *Client) PagePayURL(r PayRequest) (string, error) {
	r.QuitURL = ""
	return c.payURL(MethodPagePay, ProductPagePay, r)
}

// WapPayURL returns the signed link of a mobile payment
// (alipay.trade.wap.pay): opens Alipay or the H5 cashier on a phone.
func (c *Client) WapPayURL(r PayRequest) (string, error) {
	return c.payURL(MethodWapPay, ProductWapPay, r)
}

func (c *Client) payURL(method, product string, r PayRequest) (string, error) {
	if err := CheckOutTradeNo("out_trade_no", r.OutTradeNo); err != nil {
		return "", err
	}
	if r.TotalAmount < MinAmount || r.TotalAmount > MaxAmount {
		return "", fmt.Errorf("total_amount %s: must be between 0.01 and 100000000 (金额范围 0.01 至 100000000)", r.TotalAmount)
	}
	if strings.TrimSpace(r.Subject) == "" {
		return "", fmt.Errorf("subject: must not be empty (订单标题不能为空)")
	}
	p := c.commonParams(method)
	if u := firstNonEmpty(r.ReturnURL, c.cfg.ReturnURL); u != "" {
		p["return_url"] = u
	}
	if u := firstNonEmpty(r.NotifyURL, c.cfg.NotifyURL); u != "" {
		p["notify_url"] = u
	}
	biz := payBiz{
		OutTradeNo:     r.OutTradeNo,
		TotalAmount:    r.TotalAmount.String(),
		Subject:        r.Subject,
		ProductCode:    product,
		TimeoutExpress: r.TimeoutExpress,
		TimeExpire:     r.TimeExpire,
		QuitURL:        r.QuitURL,
	}
	if err := c.signParams(p, biz); err != nil {
		return "", err
	}
	sep := "?"
	if strings.Contains(c.cfg.GatewayURL, "?") {
		sep = "&"
	}
	return c.cfg.GatewayURL + sep + encodeValues(p), nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// CheckOutTradeNo checks a merchant order or refund request number against
// what Alipay accepts: 1 to 64 letters, digits, "_" or "-".
func CheckOutTradeNo(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s: must not be empty (不能为空)", field)
	}
	if n := len([]rune(s)); n > 64 {
		return fmt.Errorf("%s: %d characters, at most 64 allowed (最长 64 个字符)", field, n)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("%s: only letters, digits, '_' and '-' are allowed, got %q (只能包含字母、数字、下划线和短横线)", field, r)
		}
	}
	return nil
}

// TradeQuery is the answer of alipay.trade.query.
type TradeQuery struct {
	TradeNo        string `json:"trade_no"`
	OutTradeNo     string `json:"out_trade_no"`
	TradeStatus    string `json:"trade_status"`
	TotalAmount    string `json:"total_amount"`
	ReceiptAmount  string `json:"receipt_amount"`
	BuyerPayAmount string `json:"buyer_pay_amount"`
	BuyerLogonID   string `json:"buyer_logon_id"`
	SendPayDate    string `json:"send_pay_date"`
}

// Query asks for a trade by out_trade_no. Retried on unknown outcomes.
func (c *Client) Query(ctx context.Context, outTradeNo string) (*TradeQuery, error) {
	if err := CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	var out TradeQuery
	biz := map[string]string{"out_trade_no": outTradeNo}
	if err := c.call(ctx, MethodQuery, biz, nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RefundRequest is a (partial) refund. OutRequestNo makes it idempotent: a
// retry with the same number never refunds twice.
type RefundRequest struct {
	OutTradeNo   string
	RefundAmount Amount
	OutRequestNo string
	RefundReason string
}

// RefundResult is the answer of alipay.trade.refund.
type RefundResult struct {
	TradeNo      string `json:"trade_no"`
	OutTradeNo   string `json:"out_trade_no"`
	BuyerLogonID string `json:"buyer_logon_id"`
	FundChange   string `json:"fund_change"` // Y: money moved in this call
	RefundFee    string `json:"refund_fee"`  // cumulative refunded on the trade
	GmtRefundPay string `json:"gmt_refund_pay"`
}

// Refund refunds part or all of a paid trade. It is retried on unknown
// outcomes with the same out_request_no, which Alipay makes idempotent.
func (c *Client) Refund(ctx context.Context, r RefundRequest) (*RefundResult, error) {
	if err := CheckOutTradeNo("out_trade_no", r.OutTradeNo); err != nil {
		return nil, err
	}
	if err := CheckOutTradeNo("out_request_no", r.OutRequestNo); err != nil {
		return nil, err
	}
	if r.RefundAmount < MinAmount || r.RefundAmount > MaxAmount {
		return nil, fmt.Errorf("refund_amount %s: must be between 0.01 and 100000000 (退款金额范围 0.01 至 100000000)", r.RefundAmount)
	}
	biz := struct {
		OutTradeNo   string `json:"out_trade_no"`
		RefundAmount string `json:"refund_amount"`
		OutRequestNo string `json:"out_request_no"`
		RefundReason string `json:"refund_reason,omitempty"`
	}{r.OutTradeNo, r.RefundAmount.String(), r.OutRequestNo, r.RefundReason}
	var out RefundResult
	if err := c.call(ctx, MethodRefund, biz, nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RefundQuery is the answer of alipay.trade.fastpay.refund.query.
type RefundQuery struct {
	TradeNo      string `json:"trade_no"`
	OutTradeNo   string `json:"out_trade_no"`
	OutRequestNo string `json:"out_request_no"`
	TotalAmount  string `json:"total_amount"`
	RefundAmount string `json:"refund_amount"`
	RefundStatus string `json:"refund_status"` // REFUND_SUCCESS, or "" when not (yet) refunded
	RefundReason string `json:"refund_reason"`
	GmtRefundPay string `json:"gmt_refund_pay"`
}

// QueryRefund asks for one refund of a trade, with gmt_refund_pay.
func (c *Client) QueryRefund(ctx context.Context, outTradeNo, outRequestNo string) (*RefundQuery, error) {
	if err := CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	if err := CheckOutTradeNo("out_request_no", outRequestNo); err != nil {
		return nil, err
	}
	biz := struct {
		OutTradeNo   string   `json:"out_trade_no"`
		OutRequestNo string   `json:"out_request_no"`
		QueryOptions []string `json:"query_options"`
	}{outTradeNo, outRequestNo, []string{"gmt_refund_pay"}}
	var out RefundQuery
	if err := c.call(ctx, MethodRefundQuery, biz, nil, true, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CloseResult is the answer of alipay.trade.close.
type CloseResult struct {
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
}

// Close closes an unpaid trade (WAIT_BUYER_PAY). Not retried: query first.
func (c *Client) Close(ctx context.Context, outTradeNo string) (*CloseResult, error) {
	if err := CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	var out CloseResult
	if err := c.call(ctx, MethodClose, map[string]string{"out_trade_no": outTradeNo}, nil, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyReturn checks the parameters of a return_url redirect. The redirect
// is user-controlled: use it for display only, never for fulfilment.
func (c *Client) VerifyReturn(q url.Values) error {
	p, err := FlattenForm(q)
	if err != nil {
		return err
	}
	return VerifyNotification(c.cfg.AlipayPublicKey, p)
}

// VerifyNotification checks a notification body against this client's
// Alipay public key and app id.
func (c *Client) VerifyNotification(form url.Values) (map[string]string, error) {
	p, err := FlattenForm(form)
	if err != nil {
		return nil, err
	}
	if err := VerifyNotification(c.cfg.AlipayPublicKey, p); err != nil {
		return nil, err
	}
	if p["app_id"] != c.cfg.AppID {
		return nil, fmt.Errorf("notification for app %q, expected %q", p["app_id"], c.cfg.AppID)
	}
	return p, nil
}
