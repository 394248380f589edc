package alipay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrMalformedResponse is wrapped when the gateway's body is not an Alipay
// response envelope (HTML, truncated JSON, missing response key).
var ErrMalformedResponse = errors.New("支付宝网关的响应格式错误 / malformed gateway response")

// Envelope is a gateway response cut into its parts. Content holds the exact
// bytes of the response object, which is what Alipay signs.
type Envelope struct {
	Key     string          // "alipay_trade_query_response" or "error_response"
	Content json.RawMessage // the exact bytes of the inner object
	Sign    string          // "" when the gateway did not sign
	CertSN  string          // alipay_cert_sn, in certificate mode
}

// ResponseKey is the envelope key for a method: dots become underscores,
// plus "_response".
func ResponseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// ExtractResponse finds the response object for method in body, keeping its
// exact bytes. It falls back to "error_response". It rejects a body that holds
// a key twice, since then it is unclear which one was signed, and anything
// but one JSON object (HTML pages, truncated JSON, trailing data).
func ExtractResponse(body []byte, method string) (*Envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: 支付宝网关返回了空响应 / empty body", ErrMalformedResponse)
	}
	if trimmed[0] == '<' {
		return nil, fmt.Errorf("%w: 支付宝网关返回了 HTML 页面而不是 JSON, 请检查网关地址 / the gateway returned an HTML page, not JSON; "+
			"check the gateway URL: starts %q", ErrMalformedResponse, preview(trimmed))
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: 响应不是 JSON 对象 / body is not a JSON object: starts %q", ErrMalformedResponse, preview(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: 响应不是 JSON 对象 / body is not a JSON object", ErrMalformedResponse)
	}
	fields := make(map[string]json.RawMessage, 3)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: JSON 格式错误 / invalid JSON: %v", ErrMalformedResponse, err)
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: JSON 格式错误 / invalid JSON: %v", ErrMalformedResponse, err)
		}
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("%w: 响应中的字段 %q 重复 / key %q appears twice", ErrMalformedResponse, k, k)
		}
		fields[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: JSON 格式错误 / invalid JSON: %v", ErrMalformedResponse, err)
	}
	if dec.InputOffset() != int64(len(trimmed)) {
		return nil, fmt.Errorf("%w: JSON 之后有多余内容 / trailing data after the JSON object", ErrMalformedResponse)
	}
	key := ResponseKey(method)
	content, ok := fields[key]
	if !ok {
		key = "error_response"
		content, ok = fields[key]
	}
	if !ok {
		return nil, fmt.Errorf("%w: 响应中没有 %q / no %q in the response", ErrMalformedResponse, ResponseKey(method), ResponseKey(method))
	}
	if len(content) == 0 || content[0] != '{' {
		return nil, fmt.Errorf("%w: %q 不是 JSON 对象, 不支持 AES 加密的响应 / %q is not a JSON object; encrypted (AES) responses are not supported",
			ErrMalformedResponse, key, key)
	}
	env := &Envelope{Key: key, Content: content}
	if s, ok := fields["sign"]; ok {
		if err := json.Unmarshal(s, &env.Sign); err != nil {
			return nil, fmt.Errorf("%w: sign 不是字符串 / sign is not a string", ErrMalformedResponse)
		}
	}
	if s, ok := fields["alipay_cert_sn"]; ok {
		if err := json.Unmarshal(s, &env.CertSN); err != nil {
			return nil, fmt.Errorf("%w: alipay_cert_sn is not a string", ErrMalformedResponse)
		}
	}
	return env, nil
}

// preview returns the start of a body for an error message, cut on a rune
// boundary.
func preview(b []byte) string {
	const max = 60
	if len(b) <= max {
		return string(b)
	}
	n := max
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}
