package alipay

import (
	"errors"
	"fmt"
)

// ErrHTTPStatus is wrapped when the gateway answers with a status other than 200.
var ErrHTTPStatus = errors.New("HTTP status is not 200")

// Error is an answer from Alipay other than success, or a failure to get a
// trustworthy answer at all.
type Error struct {
	Method  string // the API called, e.g. alipay.trade.query
	Code    string // 40004, 20000, …; "" when no answer arrived
	Msg     string
	SubCode string // ACQ.TRADE_NOT_EXIST, isv.invalid-signature, …
	SubMsg  string
	// Retryable says whether the outcome is unknown and repeating the same
	// request (same out_request_no for refunds) is safe and may succeed.
	Retryable bool
	// Unverified is true when the error came back without a signature
	// (for example isv.invalid-app-id): shown, but never trusted for money.
	Unverified bool
	HTTPStatus int    // non-zero when the gateway answered with a non-200 status
	TraceID    string // trace_id header, for Alipay support
	Attempts   int    // how many requests were sent (more than 1 after retries)
	Err        error  // transport or verification cause, if any
}

// Error describes the failure in one line, in English and Chinese: the
// method, then Alipay's codes, the HTTP status or the cause.
func (e *Error) Error() string {
	var s string
	switch {
	case e.Code != "":
		s = fmt.Sprintf("%s: code=%s msg=%s", e.Method, e.Code, e.Msg)
		if e.SubCode != "" {
			s += fmt.Sprintf(" sub_code=%s sub_msg=%s", e.SubCode, e.SubMsg)
		}
		if e.Unverified {
			s += " (响应未签名, 未经验签 / unsigned response, not verified)"
		}
	case e.HTTPStatus != 0:
		s = fmt.Sprintf("%s: 支付宝网关返回 HTTP %d / gateway answered HTTP %d", e.Method, e.HTTPStatus, e.HTTPStatus)
		if e.Err != nil {
			s += ": " + e.Err.Error()
		}
	default:
		s = fmt.Sprintf("%s: %v", e.Method, e.Err)
	}
	if e.Attempts > 1 {
		s += fmt.Sprintf(" [after %d attempts 已尝试 %d 次]", e.Attempts, e.Attempts)
	}
	if e.TraceID != "" {
		s += " trace_id=" + e.TraceID
	}
	return s
}

// Unwrap returns the transport or verification cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrBadSignature) and friends see through.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return (t.Code == "" || t.Code == e.Code) && (t.SubCode == "" || t.SubCode == e.SubCode)
}

// Sub codes the tools explain to users.
const (
	SubTradeNotExist       = "ACQ.TRADE_NOT_EXIST"
	SubSystemError         = "ACQ.SYSTEM_ERROR"
	SubDiscordantRepeat    = "ACQ.DISCORDANT_REPEAT_REQUEST"
	SubRefundFeeErr        = "ACQ.REASON_TRADE_REFUND_FEE_ERR"
	SubTradeStatusError    = "ACQ.TRADE_STATUS_ERROR"
	SubInvalidParameter    = "ACQ.INVALID_PARAMETER"
	SubInvalidSignature    = "isv.invalid-signature"
	SubInvalidAppID        = "isv.invalid-app-id"
	SubSellerBalanceNotEno = "ACQ.SELLER_BALANCE_NOT_ENOUGH"
)

// IsSubCode reports whether err is an Alipay error with that sub code.
func IsSubCode(err error, sub string) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.SubCode == sub
}

// retryableCode says whether Alipay's answer leaves the outcome unknown.
func retryableCode(code, sub string) bool {
	switch {
	case code == "20000":
		return true
	case sub == SubSystemError || sub == "AQC.SYSTEM_ERROR":
		return true
	case code == "40005":
		return true
	}
	return false
}
