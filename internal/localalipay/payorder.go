package localalipay

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// payOrder is a verified page/wap pay request.
type payOrder struct {
	Method      string
	ProductCode string
	OutTradeNo  string
	Total       alipay.Amount
	Subject     string
	Body        string
	Passback    string
	QuitURL     string
	NotifyURL   string
	ReturnURL   string
	SignType    alipay.SignType
	// Expiry: TimeExpire wins; else Timeout from opening; else midnight; else 15 days.
	TimeExpire time.Time
	Timeout    time.Duration
	Midnight   bool
}

// parsePayOrder validates the business content of a page/wap pay request.
func parsePayOrder(req *gatewayRequest) (*payOrder, error) {
	b := req.Biz
	p := &payOrder{Method: req.Method, SignType: req.SignType,
		NotifyURL: req.Params["notify_url"], ReturnURL: req.Params["return_url"]}
	var err error
	if p.OutTradeNo, err = b.str("out_trade_no"); err != nil {
		return nil, err
	}
	if err := alipay.CheckOutTradeNo("out_trade_no", p.OutTradeNo); err != nil {
		return nil, errInvalidParam("%v", err)
	}
	if p.Total, err = b.amount("total_amount"); err != nil {
		return nil, err
	}
	if p.Subject, err = b.strMax("subject", 256); err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Subject) == "" {
		return nil, errInvalidParam("缺少 subject (subject is required)")
	}
	if p.Body, err = b.strMax("body", 128); err != nil {
		return nil, err
	}
	if p.Passback, err = b.strMax("passback_params", 512); err != nil {
		return nil, err
	}
	if p.ProductCode, err = b.str("product_code"); err != nil {
		return nil, err
	}
	wap := req.Method == alipay.MethodWapPay
	qr := req.Method == alipay.MethodPrecreate
	switch {
	case qr && p.ProductCode == "":
		p.ProductCode = alipay.ProductFaceToFace
	case qr && p.ProductCode != alipay.ProductFaceToFace:
		return nil, errInvalidParam("当面付的 product_code 必须是 %s (product_code must be %s for %s)",
			alipay.ProductFaceToFace, alipay.ProductFaceToFace, req.Method)
	case qr:
	case !wap && p.ProductCode != alipay.ProductPagePay:
		return nil, errInvalidParam("电脑网站支付的 product_code 必须是 %s (product_code must be %s for %s)",
			alipay.ProductPagePay, alipay.ProductPagePay, req.Method)
	case wap && p.ProductCode == "":
		p.ProductCode = alipay.ProductWapPay
	case wap && p.ProductCode != alipay.ProductWapPay && p.ProductCode != "QUICK_WAP_PAY":
		return nil, errInvalidParam("手机网站支付的 product_code 必须是 %s (product_code must be %s for %s)",
			alipay.ProductWapPay, alipay.ProductWapPay, req.Method)
	}
	if wap {
		if p.QuitURL, err = b.strMax("quit_url", 400); err != nil {
			return nil, err
		}
		if p.QuitURL != "" {
			if err := checkCallbackURL("quit_url", p.QuitURL); err != nil {
				return nil, err
			}
		}
	}
	if qr {
		p.ReturnURL = "" // a scanned QR code has no browser to send back
	}
	for _, u := range []struct{ name, v string }{{"notify_url", p.NotifyURL}, {"return_url", p.ReturnURL}} {
		if u.v != "" {
			if err := checkCallbackURL(u.name, u.v); err != nil {
				return nil, err
			}
		}
	}
	te, err := b.str("time_expire")
	if err != nil {
		return nil, err
	}
	if te != "" {
		if p.TimeExpire, err = alipay.ParseTimestamp(te); err != nil {
			return nil, errInvalidParam("time_expire 格式必须是 yyyy-MM-dd HH:mm:ss (time_expire must be yyyy-MM-dd HH:mm:ss)")
		}
		if p.TimeExpire.Sub(req.Now) > defaultLifetime {
			return nil, errInvalidParam("time_expire 不能晚于 15 天后 (time_expire must be within 15 days)")
		}
	}
	tx, err := b.str("timeout_express")
	if err != nil {
		return nil, err
	}
	if tx != "" {
		if p.Timeout, p.Midnight, err = parseTimeoutExpress(tx, wap); err != nil {
			return nil, err
		}
	}
	return p, nil
}

var timeoutRE = regexp.MustCompile(`^([1-9][0-9]{0,5})([mhd])$`)

// parseTimeoutExpress reads "90m", "2h", "3d" or "1c" (until midnight).
// Page pay allows 1m–15d; wap pay 5m–15d, shorter being raised to 5m.
func parseTimeoutExpress(s string, wap bool) (time.Duration, bool, error) {
	if s == "1c" {
		return 0, true, nil
	}
	m := timeoutRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false, errInvalidParam("timeout_express %q 格式错误: 取值如 90m, 2h, 3d, 1c, 不能有小数 (use e.g. 90m, 2h, 3d or 1c; no decimals)", s)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	d := time.Duration(n) * unit
	if d > defaultLifetime {
		return 0, false, errInvalidParam("timeout_express %q 超过 15d (at most 15d)", s)
	}
	if wap && d < 5*time.Minute {
		d = 5 * time.Minute
	}
	return d, false, nil
}

// expiry is when a trade opened at now closes if unpaid.
func (p *payOrder) expiry(now time.Time) (time.Time, error) {
	switch {
	case !p.TimeExpire.IsZero():
		if !p.TimeExpire.After(now) {
			return time.Time{}, &bizError{Sub: "ACQ.TRADE_HAS_CLOSE", Msg: "交易已超时关闭: time_expire 已过 (time_expire has passed)"}
		}
		return p.TimeExpire, nil
	case p.Timeout > 0:
		return now.Add(p.Timeout), nil
	case p.Midnight:
		c := now.In(alipay.ChinaZone())
		return time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, alipay.ChinaZone()), nil
	}
	return now.Add(defaultLifetime), nil
}

// fingerprint identifies the content of an order: opening the same
// out_trade_no with other content is ACQ.CONTEXT_INCONSISTENT.
func (p *payOrder) fingerprint() string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s\x00%s", int64(p.Total), p.Subject, p.Body)))
	return hex.EncodeToString(h[:16])
}

// checkCallbackURL checks notify_url / return_url / quit_url: absolute
// http(s), at most 256 characters (quit_url 400).
func checkCallbackURL(name, v string) error {
	limit := 256
	if name == "quit_url" {
		limit = 400
	}
	if utf8.RuneCountInString(v) > limit {
		return errInvalidParam("%s 超过 %d 个字符 (%s is longer than %d characters)", name, limit, name, limit)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errInvalidParam("%s 必须是 http(s) 绝对地址 (%s must be an absolute http(s) URL)", name, name)
	}
	return nil
}
