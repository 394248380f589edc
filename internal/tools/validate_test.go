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
		{"newline title", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"a\nb"}`, []string{"orderTitle:", "control"}, 0},
		{"missing all", link, `{}`, []string{"outTradeNo: required", "totalAmount: required", "orderTitle: required"}, 0},
		{"no arguments", link, ``, []string{"outTradeNo: required"}, 0},
		{"null field", link, `{"outTradeNo":null,"totalAmount":1,"orderTitle":"t"}`, []string{"outTradeNo: required"}, 0},
		{"extra field", link, `{"outTradeNo":"A1","totalAmount":1,"orderTitle":"t","notifyUrl":"x"}`, []string{`"notifyUrl": unknown property`}, 0},
		{"duplicate key", link, `{"outTradeNo":"A1","outTradeNo":"A2","totalAmount":1,"orderTitle":"t"}`, []string{`"outTradeNo": given twice`}, 0},
		{"array", link, `[1]`, []string{"JSON object"}, 0},
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
				if !strings.ContainsFunc(p, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
					t.Errorf("problem is not bilingual: %q", p)
				}
			}
		})
	}
}
