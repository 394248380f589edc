package localalipay

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// bizContent is the parsed biz_content object.
type bizContent map[string]json.RawMessage

// parseBiz parses biz_content; its errors are the gateway's answer and name
// no Go type.
func parseBiz(raw string) (bizContent, *gwError) {
	s := strings.TrimSpace(raw)
	if !json.Valid([]byte(s)) {
		var syn *json.SyntaxError
		if err := json.Unmarshal([]byte(s), new(any)); errors.As(err, &syn) {
			return nil, invalidParam("biz_content 不是合法的 JSON, 在第 %d 字节附近 (biz_content is not valid JSON: syntax error near byte %d)", syn.Offset, syn.Offset)
		}
		return nil, invalidParam("biz_content 不是合法的 JSON (biz_content is not valid JSON)")
	}
	var b bizContent
	if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &b) != nil || b == nil {
		return nil, invalidParam("biz_content 必须是 JSON 对象 {…} (biz_content must be a JSON object {…})")
	}
	return b, nil
}

// str returns a string member; a JSON number is taken as its text, as
// Alipay's parser does. Absent or null is "".
func (b bizContent) str(key string) (string, error) {
	raw, ok := b[key]
	if !ok {
		return "", nil
	}
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "null":
		return "", nil
	case strings.HasPrefix(s, `"`):
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", errInvalidParam("%s 不是合法的字符串 (%s is not a valid string)", key, key)
		}
		return v, nil
	case s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9'):
		return s, nil
	}
	return "", errInvalidParam("%s 必须是字符串 (%s must be a string)", key, key)
}

// strMax is str with a length limit in characters.
func (b bizContent) strMax(key string, max int) (string, error) {
	v, err := b.str(key)
	if err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(v); n > max {
		return "", errInvalidParam("%s 超过 %d 个字符 (%s is longer than %d characters)", key, max, key, max)
	}
	return v, nil
}

// amount returns a money member (JSON string or number), required.
func (b bizContent) amount(key string) (alipay.Amount, error) {
	raw, ok := b[key]
	if !ok || strings.TrimSpace(string(raw)) == "null" {
		return 0, errInvalidParam("缺少 %s (%s is required)", key, key)
	}
	a, err := alipay.AmountFromJSON(raw)
	if err != nil {
		return 0, errInvalidParam("%s: %v", key, err)
	}
	return a, nil
}

// strings returns an array-of-strings member such as query_options.
func (b bizContent) strings(key string) ([]string, error) {
	raw, ok := b[key]
	if !ok || strings.TrimSpace(string(raw)) == "null" {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, errInvalidParam("%s 必须是字符串数组 (%s must be an array of strings)", key, key)
	}
	return v, nil
}

// ref reads trade_no / out_trade_no; one of them is required.
func (b bizContent) ref() (tradeRef, error) {
	tn, err := b.strMax("trade_no", 64)
	if err != nil {
		return tradeRef{}, err
	}
	otn, err := b.strMax("out_trade_no", 64)
	if err != nil {
		return tradeRef{}, err
	}
	if tn == "" && otn == "" {
		return tradeRef{}, errInvalidParam("out_trade_no 和 trade_no 不能同时为空 (give out_trade_no or trade_no)")
	}
	return tradeRef{TradeNo: tn, OutTradeNo: otn}, nil
}
