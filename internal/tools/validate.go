package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/jsonobj"
)

// idFields are the properties Alipay restricts to 1–64 letters, digits, "_"
// and "-" (out_trade_no, out_request_no).
var idFields = map[string]bool{"outTradeNo": true, "outRequestNo": true}

// args are validated tool arguments.
type args struct {
	str  map[string]string
	amt  map[string]alipay.Amount
	ints map[string]int64
}

func (a *args) text(name string) string          { return a.str[name] }
func (a *args) amount(name string) alipay.Amount { return a.amt[name] }

// integer returns an integer argument and whether it was given.
func (a *args) integer(name string) (int64, bool) {
	v, ok := a.ints[name]
	return v, ok
}

// allowed says in both languages what a field accepts.
func allowed(f field) string {
	switch {
	case f.Type == "integer":
		return fmt.Sprintf("%d 至 %d 的整数 / a whole JSON number from %d to %d", f.Min, f.Max, f.Min, f.Max)
	case f.Type == "number":
		return "以元为单位的数字, 0.01 至 100000000, 最多两位小数 / " +
			"a JSON number in yuan from 0.01 to 100000000 with at most two decimals, e.g. 19.99"
	case idFields[f.Name]:
		return "1 至 64 个字母、数字、下划线或短横线 / 1 to 64 characters: letters, digits, '_' or '-'"
	case f.Required:
		return fmt.Sprintf("不能为空, 最长 %d 个字符 / a non-empty string of at most %d characters", f.MaxLength, f.MaxLength)
	default:
		return fmt.Sprintf("可选, 最长 %d 个字符 / a string of at most %d characters, optional", f.MaxLength, f.MaxLength)
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
			problems = append(problems, fmt.Sprintf("%s: 不支持的参数, 可用的参数为 %s / unknown property; allowed properties are %s", clip(k), names(fields), names(fields)))
		}
	}
	a := &args{str: map[string]string{}, amt: map[string]alipay.Amount{}, ints: map[string]int64{}}
	for _, f := range fields {
		v, present := obj.values[f.Name]
		if !present || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if f.Required {
				problems = append(problems, fmt.Sprintf("%s: 必填参数缺失 / required; %s", f.Name, allowed(f)))
			}
			continue
		}
		if msg := checkField(f, v, a); msg != "" {
			problems = append(problems, fmt.Sprintf("%s: %s。允许 / allowed: %s", f.Name, msg, allowed(f)))
		}
	}
	return a, problems
}

// checkField validates one present value and stores it in a.
func checkField(f field, v json.RawMessage, a *args) string {
	v = bytes.TrimSpace(v)
	if f.Type == "integer" {
		return checkInteger(f, v, a)
	}
	if f.Type == "number" {
		if len(v) > 0 && v[0] == '"' {
			return "金额必须是数字, 不能是字符串 / is a string, but the schema requires a JSON number such as 19.99, without quotes"
		}
		if len(v) > 0 && (v[0] == '{' || v[0] == '[' || v[0] == 't' || v[0] == 'f') {
			return "金额必须是数字 / is not a number"
		}
		amt, err := alipay.AmountFromJSON(v)
		if err != nil {
			return strings.TrimPrefix(err.Error(), alipay.ErrAmount.Error()+": ")
		}
		a.amt[f.Name] = amt
		return ""
	}
	if len(v) == 0 || v[0] != '"' {
		return fmt.Sprintf("必须是字符串, 收到的是%s / must be a string, got %s", jsonKindZH(v), jsonKind(v))
	}
	// Decoding would turn invalid UTF-8 and lone surrogates into U+FFFD,
	// and the link would be signed over text the caller never sent: judge
	// the raw bytes first.
	if msg := rawTextProblem(v); msg != "" {
		return msg
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "不是有效的 JSON 字符串 / is not a valid JSON string"
	}
	n := utf8.RuneCountInString(s)
	switch {
	case idFields[f.Name]:
		if err := alipay.CheckOutTradeNo(f.Name, s); err != nil {
			return strings.TrimPrefix(err.Error(), f.Name+": ")
		}
	case f.MaxLength > 0 && n > f.MaxLength:
		return fmt.Sprintf("%d 个字符, 最多 %d 个 / %d characters, at most %d allowed", n, f.MaxLength, n, f.MaxLength)
	}
	if !idFields[f.Name] {
		s = alipayLine(s)
		switch {
		case f.Required && strings.TrimSpace(s) == "":
			return "不能为空 / must not be empty"
		case strings.ContainsFunc(s, isControl):
			return "不能包含控制字符 (换行和制表符除外) / must not contain control characters (line breaks and tabs are fine)"
		case f.Name == subjectField && strings.ContainsAny(s, subjectRefused):
			return "不能包含 '/'、'=' 或 '&', 支付宝拒收含有这些字符的订单标题 subject / must not contain '/', '=' or '&': Alipay refuses them in the order title (subject)"
		}
	}
	a.str[f.Name] = s
	return ""
}

// subjectField is the argument sent as Alipay's subject; subjectRefused are
// the characters Alipay's documentation forbids there ("不可使用特殊字符，如
// /，=，& 等"; docs/protocol notes §6): refused before any call, naming the
// field, rather than after a round trip.
const (
	subjectField   = "orderTitle"
	subjectRefused = "/=&"
)

// alipayLine is what a free-text argument becomes before it reaches Alipay:
// every run of whitespace that holds a line break (CR, LF, VT, FF, U+0085,
// U+2028, U+2029) becomes one space (none at either end), and tabs become
// spaces. The reference accepts line breaks in orderTitle and refundReason,
// so we accept them too; Alipay's subject and refund_reason are one line.
func alipayLine(s string) string {
	if !strings.ContainsFunc(s, isBreakOrTab) {
		return s
	}
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if !isBreakOrTab(rs[i]) && !unicode.IsSpace(rs[i]) {
			b.WriteRune(rs[i])
			i++
			continue
		}
		j, breaks := i, false
		for ; j < len(rs) && (isBreakOrTab(rs[j]) || unicode.IsSpace(rs[j])); j++ {
			breaks = breaks || (isBreakOrTab(rs[j]) && rs[j] != '\t')
		}
		switch {
		case breaks && (i == 0 || j == len(rs)):
			// a line break at either end: dropped with the space around it
		case breaks:
			b.WriteByte(' ')
		default:
			b.WriteString(strings.ReplaceAll(string(rs[i:j]), "\t", " "))
		}
		i = j
	}
	return b.String()
}

func isBreakOrTab(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// isControl: C0 and C1 controls and DEL, other than line breaks and tabs
// (which alipayLine has already removed).
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// rawTextProblem checks a JSON string literal as it arrived: its bytes must
// be valid UTF-8 and its \u escapes must not leave a surrogate unpaired.
func rawTextProblem(lit []byte) string {
	if !utf8.Valid(lit) {
		return "不是有效的 UTF-8 文本 / is not valid UTF-8 text"
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' || i+1 >= len(lit) {
			continue
		}
		if lit[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(lit, i+2)
		if !ok {
			return "不是有效的 JSON 字符串 / is not a valid JSON string"
		}
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return fmt.Sprintf("含有孤立的代理项 \\u%04x, 不是有效的 Unicode 文本 / contains a lone surrogate \\u%04x: not valid Unicode text", r, r)
		case r >= 0xd800 && r <= 0xdbff:
			lo, ok := rune(0), false
			if i+7 < len(lit) && lit[i+6] == '\\' && lit[i+7] == 'u' {
				lo, ok = hex4(lit, i+8)
			}
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return fmt.Sprintf("含有孤立的代理项 \\u%04x, 不是有效的 Unicode 文本 / contains a lone surrogate \\u%04x: not valid Unicode text", r, r)
			}
			i += 11
			continue
		}
		i += 5
	}
	return ""
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(v), err == nil
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
	members, err := jsonobj.Members(raw)
	switch {
	case err == nil:
	case raw[0] == '{' && errors.Is(err, jsonobj.ErrSyntax):
		return nil, "arguments: 参数不是有效的 JSON / malformed JSON"
	default:
		return nil, "arguments: 参数必须是 JSON 对象 / must be a JSON object"
	}
	for _, m := range members {
		if _, dup := o.values[m.Key]; dup {
			return nil, fmt.Sprintf("%s: 参数重复 / given twice; give each property once", clip(m.Key))
		}
		o.keys = append(o.keys, m.Key)
		o.values[m.Key] = raw[m.Start:m.End:m.End] // no append can reach the rest of raw
	}
	return o, ""
}

func jsonKindZH(v json.RawMessage) string {
	if len(v) == 0 {
		return "空"
	}
	switch v[0] {
	case '{':
		return "对象"
	case '[':
		return "数组"
	case 't', 'f':
		return "布尔值"
	case 'n':
		return "null"
	}
	return "数字"
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

// checkInteger validates a whole number within the field's range. It is
// read from the JSON text: 45, never "45", 45.5 or 4.5e1.
func checkInteger(f field, v json.RawMessage, a *args) string {
	if len(v) > 0 && v[0] == '"' {
		return "必须是数字, 不能是字符串 / is a string, but the schema requires a JSON number without quotes"
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return fmt.Sprintf("必须是整数 / must be a whole number, got %s", clipRaw(v))
	}
	if n < f.Min || n > f.Max {
		return fmt.Sprintf("超出范围 / %d is out of range", n)
	}
	a.ints[f.Name] = n
	return ""
}

// clipRaw shortens a client-supplied JSON value before it is echoed.
func clipRaw(v json.RawMessage) string {
	s := string(v)
	if utf8.RuneCountInString(s) > 20 {
		s = string([]rune(s)[:20]) + "…"
	}
	return s
}
