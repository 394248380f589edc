package localalipay_test

import (
	"encoding/json"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// call sends a signed request with biz as biz_content and returns the
// verified inner object.
func call(t *testing.T, srv *localalipay.Server, method, biz string) map[string]any {
	t.Helper()
	c := srv.Credentials()
	appKey, pub := localKeys(t, c)
	a := post(t, c.GatewayURL, "", "application/x-www-form-urlencoded", form(signedParams(t, c, appKey, method, biz, nil)), method)
	if a.env == nil || a.env.Sign == "" {
		t.Fatalf("no signed envelope: %s", a.body)
	}
	if err := alipay.Verify(pub, alipay.RSA2, a.env.Content, a.env.Sign); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(a.env.Content, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRefundWithoutRequestNo: omitting out_request_no means a full refund
// whose request number is the out_trade_no.
func TestRefundWithoutRequestNo(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	payNew(t, srv, "", "FR1", 5000)
	steps := []struct {
		name, method, biz string
		want              map[string]string
	}{
		{"partial amount", alipay.MethodRefund, `{"out_trade_no":"FR1","refund_amount":"10"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "refund_fee": "0.00"}},
		{"unknown trade", alipay.MethodRefund, `{"out_trade_no":"NOPE","refund_amount":"50"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST"}},
		{"neither trade number", alipay.MethodRefund, `{"refund_amount":"50"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.INVALID_PARAMETER"}},
		{"full amount as a number", alipay.MethodRefund, `{"out_trade_no":"FR1","refund_amount":50}`,
			map[string]string{"code": "10000", "fund_change": "Y", "refund_fee": "50.00"}},
		{"repeat", alipay.MethodRefund, `{"out_trade_no":"FR1","refund_amount":"50.00"}`,
			map[string]string{"code": "10000", "fund_change": "N", "refund_fee": "50.00"}},
		{"refund query by out_trade_no", alipay.MethodRefundQuery, `{"out_trade_no":"FR1","out_request_no":"FR1"}`,
			map[string]string{"code": "10000", "refund_status": "REFUND_SUCCESS", "refund_amount": "50.00"}},
		{"refund query without gmt_refund_pay", alipay.MethodRefundQuery, `{"out_trade_no":"FR1","out_request_no":"FR1"}`,
			map[string]string{"gmt_refund_pay": ""}},
		{"refund query needs out_request_no", alipay.MethodRefundQuery, `{"out_trade_no":"FR1"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.INVALID_PARAMETER"}},
		{"refund query of an unknown trade", alipay.MethodRefundQuery, `{"out_trade_no":"NOPE","out_request_no":"x"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST"}},
		{"query", alipay.MethodQuery, `{"out_trade_no":"FR1","query_options":["fund_bill_list"]}`,
			map[string]string{"code": "10000", "trade_status": "TRADE_CLOSED", "total_amount": "50.00"}},
		{"close a refunded trade", alipay.MethodClose, `{"out_trade_no":"FR1"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.TRADE_STATUS_ERROR"}},
		{"query_options not an array", alipay.MethodQuery, `{"out_trade_no":"FR1","query_options":"x"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.INVALID_PARAMETER"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			m := call(t, srv, st.method, st.biz)
			for k, v := range st.want {
				got, _ := m[k].(string)
				if got != v {
					t.Fatalf("%s = %q, want %q (answer %v)", k, got, v, m)
				}
			}
		})
	}
	// Query by trade_no finds the same trade and lists the fund bill.
	d, err := srv.Trade(ctxT(t), "FR1")
	if err != nil {
		t.Fatal(err)
	}
	m := call(t, srv, alipay.MethodQuery, `{"trade_no":"`+d.TradeNo+`","query_options":["fund_bill_list"]}`)
	bills, _ := m["fund_bill_list"].([]any)
	if m["out_trade_no"] != "FR1" || len(bills) != 1 {
		t.Fatalf("query by trade_no: %v", m)
	}
}

// TestRefundAnswerFields: send_back_fee and refund_detail_item_list come
// only when query_options asks for refund_detail_item_list (notes §5.3,
// §5.4); a failed refund echoes zero amounts (§4.1).
func TestRefundAnswerFields(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	payNew(t, srv, "", "RF1", 5000)
	const detail = `"query_options":["refund_detail_item_list"]`
	steps := []struct {
		name, method, biz string
		want              map[string]string // "" = absent
		detailAmount      string            // refund_detail_item_list[0].amount; "" = absent
	}{
		{"refund without options", alipay.MethodRefund, `{"out_trade_no":"RF1","refund_amount":"10","out_request_no":"A"}`,
			map[string]string{"code": "10000", "fund_change": "Y", "refund_fee": "10.00", "send_back_fee": ""}, ""},
		{"refund with options", alipay.MethodRefund, `{"out_trade_no":"RF1","refund_amount":"5","out_request_no":"B",` + detail + `}`,
			map[string]string{"code": "10000", "fund_change": "Y", "refund_fee": "15.00", "send_back_fee": "5.00"}, "5.00"},
		{"repeat with options", alipay.MethodRefund, `{"out_trade_no":"RF1","refund_amount":"5","out_request_no":"B",` + detail + `}`,
			map[string]string{"code": "10000", "fund_change": "N", "refund_fee": "15.00", "send_back_fee": "5.00"}, "5.00"},
		{"repeat without options", alipay.MethodRefund, `{"out_trade_no":"RF1","refund_amount":"5","out_request_no":"B"}`,
			map[string]string{"code": "10000", "fund_change": "N", "send_back_fee": ""}, ""},
		{"failed refund echoes zeros", alipay.MethodRefund, `{"out_trade_no":"RF1","refund_amount":"9999","out_request_no":"C"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.REASON_TRADE_REFUND_FEE_ERR", "out_trade_no": "RF1", "refund_fee": "0.00", "send_back_fee": "0.00"}, ""},
		{"bad query_options", alipay.MethodRefund, `{"out_trade_no":"RF1","refund_amount":"1","out_request_no":"D","query_options":"x"}`,
			map[string]string{"code": "40004", "sub_code": "ACQ.INVALID_PARAMETER"}, ""},
		{"refund query without options", alipay.MethodRefundQuery, `{"out_trade_no":"RF1","out_request_no":"B"}`,
			map[string]string{"code": "10000", "refund_status": "REFUND_SUCCESS", "refund_amount": "5.00", "send_back_fee": ""}, ""},
		{"refund query with options", alipay.MethodRefundQuery, `{"out_trade_no":"RF1","out_request_no":"B",` + detail + `}`,
			map[string]string{"code": "10000", "refund_amount": "5.00", "send_back_fee": "5.00"}, "5.00"},
		{"refund query of no refund", alipay.MethodRefundQuery, `{"out_trade_no":"RF1","out_request_no":"NONE",` + detail + `}`,
			map[string]string{"code": "10000", "refund_status": "", "send_back_fee": ""}, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			m := call(t, srv, st.method, st.biz)
			for k, v := range st.want {
				got, present := m[k].(string)
				if v == "" && present || got != v {
					t.Fatalf("%s = %q (present %v), want %q (answer %v)", k, got, present, v, m)
				}
			}
			items, present := m["refund_detail_item_list"].([]any)
			if st.detailAmount == "" {
				if present || m["refund_detail_item_list"] != nil {
					t.Fatalf("refund_detail_item_list not asked for: %v", m)
				}
				return
			}
			if len(items) != 1 {
				t.Fatalf("refund_detail_item_list: %v", m)
			}
			item, _ := items[0].(map[string]any)
			if item["amount"] != st.detailAmount || item["fund_channel"] != "ALIPAYACCOUNT" {
				t.Fatalf("refund_detail_item_list item: %v", item)
			}
		})
	}
}
