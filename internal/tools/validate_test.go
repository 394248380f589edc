package tools

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	link := fieldsOf(NameWebPagePay)
	refund := fieldsOf(NameRefundPay)
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		fields []field
		raw    string
		want   []string // substrings of the problems; none means valid
		fen    int64    // expected amount when valid
	}{
		{"valid", link, `{"outTradeNo":"A-1_b","totalAmount":19.99,"orderTitle":"插画"}`, nil, 1999},
		{"0.07", link, `{"outTradeNo":"A1","totalAmount":0.07,"orderTitle":"t"}`, nil, 7},
		{"0.29", link, `{"outTradeNo":"A1","totalAmount":0.29,"orderTitle":"t"}`, nil, 29},
		{"max", link, `{"outTradeNo":"A1","totalAmount":100000000,"orderTitle":"t"}`, nil, 10000000000},
		{"exponent", link, `{"outTradeNo":"A1","totalAmount":1.5e1,"orderTitle":"t"}`, nil, 1500},
		{"zero", link, `{"outTradeNo":"A1","totalAmount":0,"orderTitle":"t"}`, []string{"totalAmount:", "0.01"}, 0},
		{"negative", link, `{"outTradeNo":"A1","totalAmount":-1,"orderTitle":"t"}`, []string{"totalAmount:", "negative"}, 0},
		{"three decimals", link, `{"outTradeNo":"A1","totalAmount":0.001,"orderTitle":"t"}`, []string{"totalAmount:", "two decimals"}, 0},
		{"too much", link, `{"outTradeNo":"A1","totalAmount":100000000.01,"orderTitle":"t"}`, []string{"totalAmount:", "100000000"}, 0},
		{"string amount", link, `{"outTradeNo":"A1","totalAmount":"19.99","orderTitle":"t"}`, []string{"totalAmount:", "JSON number"}, 0},
		{"abc", link, `{"outTradeNo":"A1","totalAmount":"abc","orderTitle":"t"}`, []string{"totalAmount:"}, 0},
		{"bool amount", link, `{"outTradeNo":"A1","totalAmount":true,"orderTitle":"t"}`, []string{"totalAmount:", "not a number"}, 0},
		{"65-char id", link, `{"outTradeNo":"` + long(65) + `","totalAmount":1,"orderTitle":"t"}`, []string{"outTradeNo:", "64"}, 0},
		{"64-char id", link, `{"outTradeNo":"` + long(64) + `","totalAmount":1,"orderTitle":"t"}`, nil, 100},
		{"id with space", link, `{"outTradeNo":"A 1","totalAmount":1,"orderTitle":"t"}`, []string{"outTradeNo:", "letters, digits"}, 0},
		{"chinese id", link, `{"outTradeNo":"订单1","totalAmount":1,"orderTitle":"t"}`, []string{"outTradeNo:"}, 0},
		{"number id", link, `{"outTradeNo":123,"totalAmount":1,"orderTitle":"t"}`, []string{"outTradeNo:", "must be a string"}, 0},
		{"256 chinese chars", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"` + strings.Repeat("画", 256) + `"}`, nil, 100},
		{"257 chinese chars", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"` + strings.Repeat("画", 257) + `"}`, []string{"orderTitle:", "257 characters"}, 0},
		{"blank title", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"  "}`, []string{"orderTitle:", "empty"}, 0},
		{"bell in title", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"a\u0007b"}`, []string{"orderTitle:", "control characters"}, 0},
		{"C1 control in title", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"a\u009bb"}`, []string{"orderTitle:", "control characters"}, 0},
		{"only line breaks", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"\r\n\u2028"}`, []string{"orderTitle:", "empty"}, 0},
		{"slash in title", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"T恤 S/M"}`, []string{"orderTitle:", "'/'", "subject"}, 0},
		{"equals in title", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"a=b"}`, []string{"orderTitle:", "'='"}, 0},
		{"ampersand in title", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"a\u0026b"}`, []string{"orderTitle:", "'&'"}, 0},
		{"lone high surrogate", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"a\ud800b"}`, []string{"orderTitle:", "lone surrogate", "\\ud800"}, 0},
		{"lone low surrogate", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"\udc00"}`, []string{"orderTitle:", "lone surrogate"}, 0},
		{"high surrogate at end", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"a\ud83d"}`, []string{"orderTitle:", "lone surrogate"}, 0},
		{"two high surrogates", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"\ud83d\ud83d"}`, []string{"orderTitle:", "lone surrogate"}, 0},
		{"invalid UTF-8 title", link, "{\"outTradeNo\":\"A1\",\"totalAmount\":1,\"orderTitle\":\"a\xffb\"}", []string{"orderTitle:", "not valid UTF-8"}, 0},
		{"invalid UTF-8 reason", refund, "{\"outTradeNo\":\"A1\",\"refundAmount\":1,\"outRequestNo\":\"R1\",\"refundReason\":\"\xc3\"}", []string{"refundReason:", "not valid UTF-8"}, 0},
		{"lone surrogate in reason", refund, `{"outTradeNo":"A1","refundAmount":1,"outRequestNo":"R1","refundReason":"\udfff"}`, []string{"refundReason:", "lone surrogate"}, 0},
		{"missing all", link, `{}`, []string{"outTradeNo: 必填参数缺失 / required", "totalAmount: 必填参数缺失 / required", "orderTitle: 必填参数缺失 / required"}, 0},
		{"no arguments", link, ``, []string{"outTradeNo: 必填参数缺失 / required"}, 0},
		{"null field", link, `{"outTradeNo":null,"totalAmount":1,"orderTitle":"t"}`, []string{"outTradeNo: 必填参数缺失 / required"}, 0},
		{"extra field", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"t","notifyUrl":"x"}`, []string{`"notifyUrl": 不支持的参数`, "unknown property"}, 0},
		{"duplicate key", link, `{"outTradeNo":"A1","outTradeNo":"A2","totalAmount":1,"orderTitle":"t"}`, []string{`"outTradeNo": 参数重复 / given twice`}, 0},
		{"array", link, `[1]`, []string{"JSON object"}, 0},
		{"string", link, `"x"`, []string{"JSON object"}, 0},
		{"malformed", link, `{"outTradeNo":"A1","totalAmount":}`, []string{"arguments:", "malformed JSON"}, 0},
		{"truncated", link, `{"outTradeNo":"A1","totalAmount":1`, []string{"arguments:", "malformed JSON"}, 0},
		{"text after the object", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"t"} {}`, []string{"arguments:", "malformed JSON"}, 0},
		{"escaped keys", link, `{"out\u0054radeNo":"A1","totalAmount":1,"order\u0054itle":"t"}`, nil, 100},
		{"duplicate key, once escaped", link, `{"outTradeNo":"A1","out\u0054radeNo":"A2","totalAmount":1,"orderTitle":"t"}`, []string{`"outTradeNo": 参数重复 / given twice`}, 0},
		{"optional reason absent", refund, `{"outTradeNo":"A1","refundAmount":50,"outRequestNo":"R1"}`, nil, 5000},
		{"optional reason empty", refund, `{"outTradeNo":"A1","refundAmount":50,"outRequestNo":"R1","refundReason":""}`, nil, 5000},
		{"65-char request no", refund, `{"outTradeNo":"A1","refundAmount":50,"outRequestNo":"` + long(65) + `"}`, []string{"outRequestNo:", "64"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, problems := validate(tt.fields, json.RawMessage(tt.raw))
			if len(tt.want) == 0 {
				if len(problems) > 0 {
					t.Fatalf("unexpected problems: %q", problems)
				}
				amt := a.amount("totalAmount") + a.amount("refundAmount")
				if int64(amt) != tt.fen {
					t.Errorf("amount = %d fen, want %d", amt, tt.fen)
				}
				return
			}
			all := strings.Join(problems, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems %q do not contain %q", all, w)
				}
			}
			for _, p := range problems {
				// "field: 中文 / English": Chinese first, then " / " and the English.
				_, msg, _ := strings.Cut(p, ": ")
				zh, en, ok := strings.Cut(msg, " / ")
				if !ok || !strings.ContainsFunc(zh, isHan) || strings.ContainsFunc(en[:min(len(en), 12)], isHan) {
					t.Errorf("problem is not \"中文 / English\": %q", p)
				}
			}
		})
	}
}

func isHan(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }

// TestValidateOneLine: line breaks in orderTitle and refundReason are
// accepted, as the reference accepts them, and reach Alipay as one space.
func TestValidateOneLine(t *testing.T) {
	tests := []struct {
		name, field, raw, want string
	}{
		{"LF", "orderTitle", `"a\nb"`, "a b"},
		{"CRLF with spaces", "orderTitle", `"a \r\n  b"`, "a b"},
		{"U+2028 U+2029 U+0085", "orderTitle", `"a\u2028b\u2029c\u0085d"`, "a b c d"},
		{"breaks at the ends", "orderTitle", `"\n 插画 \n"`, "插画"},
		{"tab", "orderTitle", `"a\tb"`, "a b"},
		{"spaces kept", "orderTitle", `"a  b"`, "a  b"},
		{"emoji pair kept", "orderTitle", `"\ud83d\ude00"`, "😀"},
		{"reason", "refundReason", `"质量问题\n\n买家要求退款"`, "质量问题 买家要求退款"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := fieldsOf(NameWebPagePay)
			raw := `{"outTradeNo":"A1","totalAmount":1,"orderTitle":` + tt.raw + `}`
			if tt.field == "refundReason" {
				fields = fieldsOf(NameRefundPay)
				raw = `{"outTradeNo":"A1","refundAmount":1,"outRequestNo":"R1","refundReason":` + tt.raw + `}`
			}
			a, problems := validate(fields, json.RawMessage(raw))
			if len(problems) > 0 {
				t.Fatalf("problems: %q", problems)
			}
			if got := a.text(tt.field); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
			}
		})
	}
}
