package alipay_test

import (
	"encoding/json"
	"fmt"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

func ExampleParseAmount() {
	for _, s := range []string{"19.99", "0.1", "0.001", "0"} {
		a, err := alipay.ParseAmount(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(int64(a), "fen =", a)
	}
	// Output:
	// 1999 fen = 19.99
	// 10 fen = 0.10
	// 金额无效 / invalid amount: "0.001": 最多两位小数 / at most two decimals (0.01 yuan)
	// 金额无效 / invalid amount: "0": 小于最小金额 0.01 元 / must be at least 0.01
}

func ExampleAmountFromJSON() {
	var args struct {
		Amount json.RawMessage `json:"total_amount"`
	}
	_ = json.Unmarshal([]byte(`{"total_amount": 0.07}`), &args)
	a, err := alipay.AmountFromJSON(args.Amount)
	fmt.Println(int64(a), a, err)
	// Output: 7 0.07 <nil>
}
