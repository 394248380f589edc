package localalipay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Limits of the control API's input.
const (
	maxControlBody = 64 << 10 // bytes of a JSON body
	maxTradesLimit = 1000     // ?limit= of GET /_local/trades
)

func badInput(format string, args ...any) *controlError {
	return &controlError{http.StatusBadRequest, "bad_input", fmt.Sprintf(format, args...)}
}

// checkQuery refuses a malformed query string, parameters the endpoint does
// not take, and a parameter given more than once.
func checkQuery(r *http.Request, allowed []string) *controlError {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badInput("查询字符串格式错误 (malformed query string)")
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return badInput("未知的查询参数 %q, 此接口不接受查询参数 (unknown query parameter %q; this endpoint takes none)", shorten(k), shorten(k))
			}
			list := strings.Join(allowed, ", ")
			return badInput("未知的查询参数 %q, 可用: %s (unknown query parameter %q; allowed: %s)", shorten(k), list, shorten(k), list)
		}
		if len(q[k]) > 1 {
			return badInput("查询参数 %s 只能出现一次 (query parameter %s given more than once)", k, k)
		}
	}
	return nil
}

// parseLimit reads ?limit= of GET /_local/trades: absent is 0 (the
// default, 100), otherwise an integer from 1 to maxTradesLimit.
func parseLimit(q url.Values) (int, error) {
	if !q.Has("limit") {
		return 0, nil
	}
	v := q.Get("limit")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTradesLimit {
		return 0, badInput("limit %q 无效: 必须是 1 到 %d 的整数, 默认 100 (limit must be an integer from 1 to %d; default 100)",
			shorten(v), maxTradesLimit, maxTradesLimit)
	}
	return n, nil
}

// decodeJSON reads a body holding exactly one JSON object into v, a
// pointer to a struct, refusing unknown fields. Its errors name the field
// and what it must be, in Chinese and English, never a Go type.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	if err != nil {
		return badInput("读取请求体失败 (cannot read the body)")
	}
	if len(body) > maxControlBody {
		return badInput("请求体超过 64 KiB (the body is larger than 64 KiB)")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return badInput("请求体为空, 应为一个 JSON 对象 (the body is empty; send a JSON object)")
	}
	if trimmed[0] != '{' {
		return badInput("请求体必须是一个 JSON 对象 {…} (the body must be a JSON object {…})")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonInputError(err, v)
	}
	if rest := bytes.TrimSpace(trimmed[dec.InputOffset():]); len(rest) > 0 {
		return badInput("请求体只能包含一个 JSON 对象 (the body must hold exactly one JSON object)")
	}
	return nil
}

// jsonInputError turns a decoding error into a clear message.
func jsonInputError(err error, v any) *controlError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return badInput("JSON 语法错误, 在第 %d 字节附近 (JSON syntax error near byte %d)", syn.Offset, syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badInput("JSON 不完整 (the JSON body ends too early)")
	case errors.As(err, &typ):
		name, _, _ := strings.Cut(typ.Field, ".")
		zh, en := describeField(v, name)
		return badInput("字段 %s 类型错误, 应为%s (field %s must be %s)", name, zh, name, en)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		list := strings.Join(jsonFields(v), ", ")
		return badInput("未知字段 %q, 可用字段: %s (unknown field %q; allowed: %s)", shorten(name), list, shorten(name), list)
	}
	return badInput("请求体不是预期的 JSON 对象 (the body is not the expected JSON object)")
}

// jsonFields lists the JSON names of the struct v points to.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	if t.Kind() != reflect.Struct {
		return out
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// describeField says, in Chinese and English, what the JSON field name of
// the struct v points to must hold.
func describeField(v any, name string) (zh, en string) {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var ft reflect.Type
	if t.Kind() == reflect.Struct {
		for f := range t.Fields() {
			if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name {
				ft = f.Type
			}
		}
	}
	if ft == nil {
		return "其他类型", "of another type"
	}
	switch ft.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "整数", "an integer"
	case reflect.Float64, reflect.Float32:
		return "数字", "a number"
	case reflect.String:
		return "字符串", "a string"
	case reflect.Bool:
		return " true 或 false", "true or false"
	case reflect.Slice:
		if ft.Elem().Kind() == reflect.String {
			return "字符串数组", "an array of strings"
		}
		return "数组", "an array"
	}
	return "其他类型", "of another type"
}
