package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// idFields are the properties Alipay restricts to 1–64 letters, digits, "_"
// and "-" (out_trade_no, out_request_no).
var idFields = map[string]bool{"outTradeNo": true, "outRequestNo": true}

// args are validated tool arguments.
type args struct {
	str map[string]string
	amt map[string]alipay.Amount
}

func (a *args) text(name string) string          { return a.str[name] }
func (a *args) amount(name string) alipay.Amount { return a.amt[name] }

// allowed says in both languages what a field accepts.
func allowed(f field) string {
	switch {
	case f.Type == "number":
		return "a JSON number in yuan from 0.01 to 100000000 with at most two decimals, e.g. 19.99 " +
			"(以元为单位的数字, 0.01 至 100000000, 最多两位小数)"
	case idFields[f.Name]:
		return "1 to 64 characters: letters, digits, '_' or '-' (1 至 64 个字母、数字、下划线或短横线)"
	case f.Required:
		return fmt.Sprintf("a non-empty string of at most %d characters (不能为空, 最长 %d 个字符)", f.MaxLength, f.MaxLength)
	default:
		return fmt.Sprintf("a string of at most %d characters, optional (可选, 最长 %d 个字符)", f.MaxLength, f.MaxLength)
	}
}

// validate checks raw tool arguments against the tool's fields and returns
// every problem found, each naming the field and what it accepts.
func validate(fields []field, raw json.RawMessage) (*args, []string) {
	obj, problem := decodeObject(raw)
	if problem != "" {
		return nil, []string{problem}
	}
	known := map[string]field{}
	for _, f := range fields {
		known[f.Name] = f
	}
	var problems []string
	for _, k := range obj.keys {
		if _, ok := known[k]; !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown property; allowed properties are %s (不支持的参数)", clip(k), names(fields)))
		}
	}
	a := &args{str: map[string]string{}, amt: map[string]alipay.Amount{}}
	for _, f := range fields {
		v, present := obj.values[f.Name]
		if !present || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if f.Required {
				problems = append(problems, fmt.Sprintf("%s: required; %s (必填参数缺失)", f.Name, allowed(f)))
			}
			continue
		}
		if msg := checkField(f, v, a); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: %s; allowed: %s", f.Name, msg, allowed(f)))
		}
	}
	return a, problems
}

// checkField validates one present value and stores it in a.
func checkField(f field, v json.RawMessage, a *args) string {
	v = bytes.TrimSpace(v)
	if f.Type == "number" {
		if len(v) > 0 && v[0] == '"' {
			return "is a string, but the schema requires a JSON number such as 19.99, without quotes (金额必须是数字, 不能是字符串)"
		}
		if len(v) > 0 && (v[0] == '{' || v[0] == '[' || v[0] == 't' || v[0] == 'f') {
			return "is not a number (金额必须是数字)"
		}
		amt, err := alipay.AmountFromJSON(v)
		if err != nil {
			return strings.TrimPrefix(err.Error(), alipay.ErrAmount.Error()+": ")
		}
		a.amt[f.Name] = amt
		return ""
	}
	if len(v) == 0 || v[0] != '"' {
		return fmt.Sprintf("must be a string, got %s (必须是字符串)", jsonKind(v))
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "is not a valid JSON string (不是有效的字符串)"
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 (编码无效)"
	}
	n := utf8.RuneCountInString(s)
	switch {
	case idFields[f.Name]:
		if err := alipay.CheckOutTradeNo(f.Name, s); err != nil {
			return strings.TrimPrefix(err.Error(), f.Name+": ")
		}
	case f.MaxLength > 0 && n > f.MaxLength:
		return fmt.Sprintf("%d characters, at most %d allowed (超过 %d 个字符)", n, f.MaxLength, f.MaxLength)
	case f.Required && strings.TrimSpace(s) == "":
		return "must not be empty (不能为空)"
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters such as line breaks (不能包含换行等控制字符)"
	}
	a.str[f.Name] = s
	return ""
}

// object is a decoded JSON object that remembers key order and duplicates.
type object struct {
	keys   []string
	values map[string]json.RawMessage
}

// decodeObject reads the arguments object. Absent arguments count as {}.
// A key given twice is refused: clients and servers could read it differently.
func decodeObject(raw json.RawMessage) (*object, string) {
	o := &object{values: map[string]json.RawMessage{}}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return o, ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, "arguments: must be a JSON object (参数必须是 JSON 对象)"
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, "arguments: malformed JSON (参数不是有效的 JSON)"
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, "arguments: malformed JSON (参数不是有效的 JSON)"
		}
		if _, dup := o.values[k]; dup {
			return nil, fmt.Sprintf("%s: given twice; give each property once (参数重复)", clip(k))
		}
		o.keys = append(o.keys, k)
		o.values[k] = v
	}
	return o, ""
}

func jsonKind(v json.RawMessage) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func names(fields []field) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
	}
	return b.String()
}

// clip shortens a client-supplied key before it is echoed in an error.
func clip(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
