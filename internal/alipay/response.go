package alipay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformedResponse is wrapped when the gateway's body is not an Alipay
// response envelope (HTML, truncated JSON, missing response key).
var ErrMalformedResponse = errors.New("malformed gateway response")

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
// the response key twice, since then it is unclear which one was signed.
func ExtractResponse(body []byte, method string) (*Envelope, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: body is not JSON (starts %q)", ErrMalformedResponse, preview(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrMalformedResponse)
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedResponse, err)
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedResponse, err)
		}
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("%w: key %q appears twice", ErrMalformedResponse, k)
		}
		fields[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedResponse, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformedResponse)
	}
	env := &Envelope{}
	key := ResponseKey(method)
	content, ok := fields[key]
	if !ok {
		key = "error_response"
		content, ok = fields[key]
	}
	if !ok {
		return nil, fmt.Errorf("%w: no %q in the response", ErrMalformedResponse, ResponseKey(method))
	}
	env.Key = key
	env.Content = content
	if s, ok := fields["sign"]; ok {
		if err := json.Unmarshal(s, &env.Sign); err != nil {
			return nil, fmt.Errorf("%w: sign is not a string", ErrMalformedResponse)
		}
	}
	if s, ok := fields["alipay_cert_sn"]; ok {
		_ = json.Unmarshal(s, &env.CertSN)
	}
	return env, nil
}

func preview(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}
