package alipay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is a sum of money in fen (1/100 yuan). It is never a float.
type Amount int64

const (
	// MinAmount is the smallest amount Alipay accepts: 0.01 yuan.
	MinAmount Amount = 1
	// MaxAmount is the largest amount Alipay accepts: 100000000 yuan.
	MaxAmount Amount = 100000000_00
)

// ErrAmount is wrapped by every amount parsing error.
var ErrAmount = errors.New("金额无效 / invalid amount")

// ParseAmount parses a decimal yuan amount such as "19.99", "0.1" or "7"
// exactly. It accepts at most two decimals and the range [0.01, 100000000];
// exponents are accepted only when the value is still exact in fen
// ("1e2", "1.5E1"). The error says which rule was broken, in Chinese and English.
func ParseAmount(s string) (Amount, error) {
	a, err := parseDecimal(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	if a < MinAmount {
		return 0, fmt.Errorf("%w: %s: 小于最小金额 0.01 元 / must be at least 0.01", ErrAmount, quoteShort(s))
	}
	if a > MaxAmount {
		return 0, fmt.Errorf("%w: %s: 超过最大金额 100000000 元 / must be at most 100000000", ErrAmount, quoteShort(s))
	}
	return a, nil
}

// ParseResponseAmount parses an amount as Alipay writes it in responses and
// notifications ("88.88", "0.00"): like ParseAmount, but zero is allowed and
// there is no upper bound beyond what fits.
func ParseResponseAmount(s string) (Amount, error) {
	return parseDecimal(strings.TrimSpace(s))
}

// AmountFromJSON parses an amount from a JSON number or a JSON string holding
// a decimal, from its text, so 19.99 and 0.07 stay exact. The range and
// precision rules of ParseAmount apply.
func AmountFromJSON(raw json.RawMessage) (Amount, error) {
	text, err := amountText(raw)
	if err != nil {
		return 0, err
	}
	return ParseAmount(text)
}

// amountText returns the decimal text of a JSON number or string.
func amountText(raw []byte) (string, error) {
	s := strings.Trim(string(raw), " \t\r\n") // JSON whitespace only
	if s == "" || s == "null" {
		return "", fmt.Errorf("%w: 金额缺失 / missing", ErrAmount)
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal([]byte(s), &str); err != nil {
			return "", fmt.Errorf("%w: %s: 金额格式不正确 / not a JSON string", ErrAmount, quoteShort(s))
		}
		return str, nil
	}
	if (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || !json.Valid([]byte(s)) {
		return "", fmt.Errorf("%w: %s: 金额必须是数字, 如 19.99 / not a number like 19.99", ErrAmount, quoteShort(s))
	}
	return s, nil
}

// parseDecimal turns a plain decimal (optionally with an exponent) into fen,
// refusing anything that is not a whole number of fen.
func parseDecimal(s string) (Amount, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: 金额为空 / empty", ErrAmount)
	}
	orig := s
	if len(s) > 64 {
		return 0, fmt.Errorf("%w: %s: 金额格式不正确, 太长 / too long", ErrAmount, quoteShort(orig))
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	exp := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 20 || e < -20 {
			return 0, fmt.Errorf("%w: %s: 金额格式不正确, 应为如 19.99 的数字 / not a decimal number like 19.99", ErrAmount, quoteShort(orig))
		}
		exp = e
		s = s[:i]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" || hasDot && frac == "" && intPart == "" {
		return 0, fmt.Errorf("%w: %s: 金额格式不正确, 应为如 19.99 的数字 / not a decimal number like 19.99", ErrAmount, quoteShort(orig))
	}
	if !allDigits(intPart) || !allDigits(frac) || (hasDot && frac == "") {
		return 0, fmt.Errorf("%w: %s: 金额格式不正确, 应为如 19.99 的数字 / not a decimal number like 19.99", ErrAmount, quoteShort(orig))
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	scale := len(frac) - exp // value = digits * 10^-scale
	// Drop trailing zeros to find the real scale.
	for scale > 0 && strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		scale--
	}
	if digits == "" {
		if neg {
			return 0, fmt.Errorf("%w: %s: 必须大于 0 / must be greater than 0", ErrAmount, quoteShort(orig))
		}
		return 0, nil
	}
	if neg {
		return 0, fmt.Errorf("%w: %s: 不能为负数 / must not be negative", ErrAmount, quoteShort(orig))
	}
	if scale > 2 {
		return 0, fmt.Errorf("%w: %s: 最多两位小数 / at most two decimals (0.01 yuan)", ErrAmount, quoteShort(orig))
	}
	shift := 2 - scale // multiply digits by 10^shift
	if len(digits)+shift > 13 {
		return 0, fmt.Errorf("%w: %s: 超过最大金额 100000000 元 / must be at most 100000000", ErrAmount, quoteShort(orig))
	}
	n, err := strconv.ParseInt(digits+strings.Repeat("0", shift), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrAmount, quoteShort(orig), err)
	}
	return Amount(n), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

// String formats the amount as Alipay does: yuan with exactly two decimals.
func (a Amount) String() string {
	sign := ""
	v := int64(a)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes the amount as a JSON number with two decimals (19.99),
// built from the integer so it is exact.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalJSON reads what MarshalJSON writes, and the JSON strings Alipay
// uses ("88.88"), exactly; 0.00 is allowed. User input should go through
// AmountFromJSON, which also enforces the range of a payment.
func (a *Amount) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	text, err := amountText(raw)
	if err != nil {
		return err
	}
	v, err := parseDecimal(strings.TrimSpace(text))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
