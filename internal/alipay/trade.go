package alipay

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Methods of the OpenAPI this client speaks.
const (
	MethodPagePay     = "alipay.trade.page.pay"
	MethodWapPay      = "alipay.trade.wap.pay"
	MethodQuery       = "alipay.trade.query"
	MethodRefund      = "alipay.trade.refund"
	MethodRefundQuery = "alipay.trade.fastpay.refund.query"
	MethodClose       = "alipay.trade.close"
	MethodPrecreate   = "alipay.trade.precreate"
)

// Trade statuses of alipay.trade.query and notifications (notes §5.1), and
// the refund status of a refund that went through.
const (
	TradeWaitBuyerPay = "WAIT_BUYER_PAY" // opened, not paid
	TradeSuccess      = "TRADE_SUCCESS"  // paid, refundable
	TradeFinished     = "TRADE_FINISHED" // paid, no longer refundable
	TradeClosed       = "TRADE_CLOSED"   // closed unpaid, or fully refunded
	RefundSuccess     = "REFUND_SUCCESS"
)

// Paid reports whether a trade status means the buyer has paid: only
// TRADE_SUCCESS and TRADE_FINISHED do.
func Paid(status string) bool { return status == TradeSuccess || status == TradeFinished }

// Product codes of the two link kinds.
const (
	ProductPagePay = "FAST_INSTANT_TRADE_PAY"
	ProductWapPay  = "QUICK_WAP_WAY"
	// ProductFaceToFace is the product of a precreated QR code (当面付).
	ProductFaceToFace = "FACE_TO_FACE_PAYMENT"
)

// PayRequest describes a payment link. Every field is checked before
// signing, and an error names the field (out_trade_no, total_amount, …).
type PayRequest struct {
	OutTradeNo     string // 1–64 of [A-Za-z0-9_-]
	TotalAmount    Amount // 0.01 to 100000000 yuan
	Subject        string // 1–256 characters
	TimeoutExpress string // optional, relative: "30m", "2h", "1d" (1m–15d) or "1c"
	TimeExpire     string // optional, absolute Beijing time "yyyy-MM-dd HH:mm:ss", in the future
	QuitURL        string // wap only: where the buyer lands on abandon (optional)
	ReturnURL      string // overrides Config.ReturnURL; absolute http(s), ≤256 bytes
	NotifyURL      string // overrides Config.NotifyURL; absolute http(s), ≤256 bytes
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
	if err := checkAmountRange("total_amount", r.TotalAmount); err != nil {
		return "", err
	}
	if err := checkText("subject", r.Subject, 256, true); err != nil {
		return "", err
	}
	if err := CheckTimeoutExpress(r.TimeoutExpress); err != nil {
		return "", err
	}
	if err := c.checkTimeExpire(r.TimeExpire); err != nil {
		return "", err
	}
	p := c.commonParams(method)
	for _, u := range []struct{ field, value string }{
		{"return_url", firstNonEmpty(r.ReturnURL, c.cfg.ReturnURL)},
		{"notify_url", firstNonEmpty(r.NotifyURL, c.cfg.NotifyURL)},
		{"quit_url", r.QuitURL},
	} {
		if u.value == "" {
			continue
		}
		if err := CheckURL(u.field, u.value); err != nil {
			return "", err
		}
		if u.field != "quit_url" {
			p[u.field] = u.value
		}
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
	bizJSON, err := marshalBiz(biz)
	if err != nil {
		return "", err
	}
	if err := c.sign(p, bizJSON); err != nil {
		return "", err
	}
	link, _, err := c.splitParams(p, func(string) bool { return true })
	return link, err
}

// checkAmountRange checks an amount against what a payment or refund allows.
func checkAmountRange(field string, a Amount) error {
	if a < MinAmount || a > MaxAmount {
		return fmt.Errorf("%s %s: 取值范围 0.01 至 100000000 元 / must be between 0.01 and 100000000 yuan", field, a)
	}
	return nil
}

// checkText checks a free-text business field: required or not, at most max
// characters.
func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s: 不能为空 / must not be empty", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s: %d 个字符, 最长 %d 个 / %d characters, at most %d allowed", field, n, max, n, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s: 不是有效的 UTF-8 文本 / not valid UTF-8 text", field)
	}
	return nil
}

// CheckTimeoutExpress checks a relative payment timeout as Alipay accepts it:
// a whole number of minutes, hours or days ("30m", "2h", "1d") between 1m and
// 15d, or "1c" (until midnight). "" means the default (15d).
func CheckTimeoutExpress(s string) error {
	if s == "" || s == "1c" {
		return nil
	}
	bad := fmt.Errorf("timeout_express %q: use a whole number with m, h or d, e.g. 30m, 2h, 1d, or 1c; between 1m and 15d "+
		"(timeout_express 格式如 30m、2h、1d 或 1c, 范围 1m 至 15d)", s)
	if len(s) < 2 || len(s) > 6 {
		return bad
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 1 || s[0] == '+' || s[0] == '0' {
		return bad
	}
	minutes := map[byte]int{'m': 1, 'h': 60, 'd': 24 * 60}[s[len(s)-1]]
	if minutes == 0 || n*minutes > 15*24*60 {
		return bad
	}
	return nil
}

// checkTimeExpire checks an absolute expiry "yyyy-MM-dd HH:mm:ss" (Beijing
// time): well formed and not in the past.
func (c *Client) checkTimeExpire(s string) error {
	if s == "" {
		return nil
	}
	t, err := ParseTimestamp(s)
	if err != nil {
		return fmt.Errorf("time_expire %q: use yyyy-MM-dd HH:mm:ss in Beijing time, e.g. 2024-01-01 12:30:00 "+
			"(time_expire 格式为 yyyy-MM-dd HH:mm:ss, 北京时间)", s)
	}
	if !t.After(c.cfg.Now()) {
		return fmt.Errorf("time_expire %q: 已过期 (按北京时间) / is in the past (Beijing time)", s)
	}
	return nil
}

// CheckURL checks a return_url, notify_url or quit_url: an absolute http(s)
// URL of at most 256 bytes.
func CheckURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: 必须是 http(s) 绝对地址 / must be an absolute http(s) URL", field, clip(s))
	}
	if len(s) > 256 {
		return fmt.Errorf("%s: %d 字节, 最长 256 字节 / %d bytes, at most 256 allowed", field, len(s), len(s))
	}
	return nil
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
		return fmt.Errorf("%s: 不能为空 / must not be empty", field)
	}
	if n := len([]rune(s)); n > 64 {
		return fmt.Errorf("%s: %d 个字符, 最长 64 个 / %d characters, at most 64 allowed", field, n, n)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("%s: 只能包含字母、数字、下划线和短横线, 收到 %q / only letters, digits, '_' and '-' are allowed, got %q", field, r, r)
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
	PointAmount    string `json:"point_amount"`
	InvoiceAmount  string `json:"invoice_amount"`
	BuyerUserID    string `json:"buyer_user_id"`
	BuyerOpenID    string `json:"buyer_open_id"`
	Subject        string `json:"subject"`
	Body           string `json:"body"`
	PassbackParams string `json:"passback_params"`
}

// Query asks for a trade by out_trade_no. Retried on unknown outcomes.
func (c *Client) Query(ctx context.Context, outTradeNo string) (*TradeQuery, error) {
	if err := CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	var out TradeQuery
	biz := map[string]string{"out_trade_no": outTradeNo}
	b := binding{echo: biz, need: []string{"out_trade_no"}, order: outTradeNo}
	if err := c.call(ctx, MethodQuery, biz, b, true, &out); err != nil {
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
	if err := checkAmountRange("refund_amount", r.RefundAmount); err != nil {
		return nil, err
	}
	if err := checkText("refund_reason", r.RefundReason, 256, false); err != nil {
		return nil, err
	}
	biz := struct {
		OutTradeNo   string `json:"out_trade_no"`
		RefundAmount string `json:"refund_amount"`
		OutRequestNo string `json:"out_request_no"`
		RefundReason string `json:"refund_reason,omitempty"`
	}{r.OutTradeNo, r.RefundAmount.String(), r.OutRequestNo, r.RefundReason}
	var out RefundResult
	// The refund answer echoes no out_request_no; the refund query that
	// confirms a refund does (QueryRefund).
	b := binding{echo: map[string]string{"out_trade_no": r.OutTradeNo}, need: []string{"out_trade_no"}, order: r.OutTradeNo}
	if err := c.call(ctx, MethodRefund, biz, b, true, &out); err != nil {
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
	b := binding{echo: map[string]string{"out_trade_no": outTradeNo, "out_request_no": outRequestNo}, order: outTradeNo}
	if err := c.call(ctx, MethodRefundQuery, biz, b, true, &out); err != nil {
		return nil, err
	}
	// An unknown refund answers without refund_status and may name
	// nothing; a refund it reports on must say which one it is.
	if out.RefundStatus != "" {
		for _, f := range []struct{ field, asked, got string }{
			{"out_trade_no", outTradeNo, out.OutTradeNo},
			{"out_request_no", outRequestNo, out.OutRequestNo},
		} {
			if f.got == "" {
				return nil, &Error{Method: MethodRefundQuery, Attempts: 1, Err: &MismatchError{Field: f.field, Asked: f.asked}}
			}
		}
	}
	return &out, nil
}

// CloseResult is the answer of alipay.trade.close.
type CloseResult struct {
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
}

// Close closes an unpaid trade (WAIT_BUYER_PAY). Not retried: a retry of a
// close that went through answers ACQ.TRADE_STATUS_ERROR, so query first.
// The answer must name the order asked about.
func (c *Client) Close(ctx context.Context, outTradeNo string) (*CloseResult, error) {
	if err := CheckOutTradeNo("out_trade_no", outTradeNo); err != nil {
		return nil, err
	}
	var out CloseResult
	biz := map[string]string{"out_trade_no": outTradeNo}
	b := binding{echo: biz, need: []string{"out_trade_no"}, order: outTradeNo}
	if err := c.call(ctx, MethodClose, biz, b, false, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PrecreateRequest describes a face-to-face QR payment
// (alipay.trade.precreate, 当面付). Every field is checked before the call.
type PrecreateRequest struct {
	OutTradeNo     string // 1–64 of [A-Za-z0-9_-]
	TotalAmount    Amount // 0.01 to 100000000 yuan
	Subject        string // 1–256 characters
	TimeoutExpress string // optional, relative: "30m", "2h", "1d" (1m–15d) or "1c"
	TimeExpire     string // optional, absolute Beijing time "yyyy-MM-dd HH:mm:ss", in the future
	NotifyURL      string // overrides Config.NotifyURL; absolute http(s), ≤256 bytes
}

// PrecreateResult is the answer of alipay.trade.precreate: qr_code is the
// text to render as a QR code for the buyer's Alipay app to scan.
type PrecreateResult struct {
	OutTradeNo string `json:"out_trade_no"`
	QRCode     string `json:"qr_code"`
}

// Precreate asks Alipay for the QR code of an order. Alipay creates the
// trade only when the buyer scans it; until then a query answers
// ACQ.TRADE_NOT_EXIST. It is retried on unknown outcomes: the same
// out_trade_no with the same content gives the same order. The answer must
// name the order asked about and carry a qr_code.
func (c *Client) Precreate(ctx context.Context, r PrecreateRequest) (*PrecreateResult, error) {
	if err := CheckOutTradeNo("out_trade_no", r.OutTradeNo); err != nil {
		return nil, err
	}
	if err := checkAmountRange("total_amount", r.TotalAmount); err != nil {
		return nil, err
	}
	if err := checkText("subject", r.Subject, 256, true); err != nil {
		return nil, err
	}
	if err := CheckTimeoutExpress(r.TimeoutExpress); err != nil {
		return nil, err
	}
	if err := c.checkTimeExpire(r.TimeExpire); err != nil {
		return nil, err
	}
	notify := firstNonEmpty(r.NotifyURL, c.cfg.NotifyURL)
	if notify != "" {
		if err := CheckURL("notify_url", notify); err != nil {
			return nil, err
		}
	}
	biz := struct {
		OutTradeNo     string `json:"out_trade_no"`
		TotalAmount    string `json:"total_amount"`
		Subject        string `json:"subject"`
		ProductCode    string `json:"product_code"`
		TimeoutExpress string `json:"timeout_express,omitempty"`
		TimeExpire     string `json:"time_expire,omitempty"`
	}{r.OutTradeNo, r.TotalAmount.String(), r.Subject, ProductFaceToFace, r.TimeoutExpress, r.TimeExpire}
	var out PrecreateResult
	b := binding{echo: map[string]string{"out_trade_no": r.OutTradeNo}, need: []string{"out_trade_no"}, order: r.OutTradeNo}
	if err := c.callWith(ctx, MethodPrecreate, biz, map[string]string{"notify_url": notify}, b, true, &out); err != nil {
		return nil, err
	}
	if out.QRCode == "" || len(out.QRCode) > 1024 {
		return nil, &Error{Method: MethodPrecreate, Err: fmt.Errorf("%w: 答复缺少 qr_code 或超过 1024 字节 / qr_code is missing or longer than 1024 bytes", ErrMalformedResponse)}
	}
	if !plainURL(out.QRCode) {
		return nil, &Error{Method: MethodPrecreate, Err: fmt.Errorf("%w: qr_code 不是不含空格和 []()<>` 的 http(s) 绝对网址 / qr_code is not an absolute http(s) URL of printable ASCII without spaces, []()<> or backticks", ErrMalformedResponse)}
	}
	return &out, nil
}

// plainURL reports whether s is an absolute http(s) URL of printable ASCII
// without spaces, brackets, parentheses, angle brackets or backticks: the
// qr_code is shown to the buyer as is (and drawn), so it must not carry
// Markdown, HTML or invisible characters, whoever signed it.
func plainURL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("[]()<>`", c) >= 0 {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// VerifyReturn checks the parameters of a return_url redirect: signed by
// Alipay for this app. The redirect is user-controlled: use it for display
// only, never for fulfilment.
func (c *Client) VerifyReturn(q url.Values) error {
	_, err := c.VerifyNotification(q)
	return err
}

// VerifyNotification checks a notification body (parsed once, POST form
// only) against this client's Alipay public key and app id, and returns its
// parameters.
func (c *Client) VerifyNotification(form url.Values) (map[string]string, error) {
	p, err := FlattenForm(form)
	if err != nil {
		return nil, err
	}
	if err := VerifyNotification(c.cfg.AlipayPublicKey, p); err != nil {
		return nil, err
	}
	if p["app_id"] != c.cfg.AppID {
		return nil, fmt.Errorf("通知中的 app_id %q 与配置的 %q 不符 / notification for app_id %q, expected %q", clip(p["app_id"]), c.cfg.AppID, clip(p["app_id"]), c.cfg.AppID)
	}
	return p, nil
}
