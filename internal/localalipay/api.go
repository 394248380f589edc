package localalipay

import (
	"context"
	"slices"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

const zeroAmount = "0.00"

// apiQuery is alipay.trade.query.
func (s *Server) apiQuery(ctx context.Context, req *gatewayRequest) (obj, error) {
	ref, err := req.Biz.ref()
	if err != nil {
		return nil, err
	}
	opts, err := req.Biz.strings("query_options")
	if err != nil {
		return nil, err
	}
	t, err := s.queryTrade(ctx, ref, req.Now)
	if err != nil {
		// Alipay echoes zero amounts with a failed query.
		return obj{{"buyer_pay_amount", zeroAmount}, {"invoice_amount", zeroAmount}}.
			addIf("out_trade_no", ref.OutTradeNo).
			add("point_amount", zeroAmount).add("receipt_amount", zeroAmount), err
	}
	paid := zeroAmount
	if t.paid() {
		paid = t.Total.String()
	}
	o := obj{}.addIf("buyer_logon_id", t.BuyerLogonID).add("buyer_pay_amount", paid).addIf("buyer_user_id", t.BuyerID)
	if t.paid() {
		o = o.add("buyer_user_type", "PRIVATE")
		if slices.Contains(opts, "fund_bill_list") {
			o = o.add("fund_bill_list", []obj{{{"amount", t.Total.String()}, {"fund_channel", "ALIPAYACCOUNT"}}})
		}
	}
	o = o.add("invoice_amount", paid).add("out_trade_no", t.OutTradeNo).add("point_amount", zeroAmount).
		add("receipt_amount", paid)
	if t.paid() {
		o = o.add("send_pay_date", alipay.FormatTimestamp(t.Paid))
	}
	return o.add("total_amount", t.Total.String()).add("trade_no", t.TradeNo).add("trade_status", t.Status), nil
}

// apiRefund is alipay.trade.refund.
func (s *Server) apiRefund(ctx context.Context, req *gatewayRequest) (obj, error) {
	ref, err := req.Biz.ref()
	if err != nil {
		return nil, err
	}
	// A failed refund echoes zero amounts, as Alipay's does (notes §4.1).
	echo := obj{}.addIf("out_trade_no", ref.OutTradeNo).add("refund_fee", zeroAmount).add("send_back_fee", zeroAmount)
	opts, err := req.Biz.strings("query_options")
	if err != nil {
		return echo, err
	}
	amount, err := req.Biz.amount("refund_amount")
	if err != nil {
		return echo, err
	}
	reqNo, err := req.Biz.strMax("out_request_no", 64)
	if err != nil {
		return echo, err
	}
	reason, err := req.Biz.strMax("refund_reason", 256)
	if err != nil {
		return echo, err
	}
	res, err := s.refundTrade(ctx, ref, amount, reqNo, reason, req.Now)
	if err != nil {
		return echo, err
	}
	t := res.Trade
	fundChange := "N"
	if res.FundChange {
		fundChange = "Y"
	}
	o := obj{}.addIf("buyer_logon_id", t.BuyerLogonID).addIf("buyer_user_id", t.BuyerID).
		add("fund_change", fundChange).add("gmt_refund_pay", alipay.FormatTimestamp(res.Refund.Created)).
		add("out_trade_no", t.OutTradeNo)
	detail := slices.Contains(opts, "refund_detail_item_list")
	if detail {
		o = o.add("refund_detail_item_list", refundDetail(res.Refund))
	}
	o = o.add("refund_fee", t.Refunded.String())
	if detail {
		o = o.add("send_back_fee", res.Refund.Amount.String())
	}
	return o.add("trade_no", t.TradeNo), nil
}

// refundDetail is refund_detail_item_list: where the refund went back to.
// Local buyers pay from their balance, so there is one item.
func refundDetail(r refund) []obj {
	a := r.Amount.String()
	return []obj{{{"amount", a}, {"fund_channel", "ALIPAYACCOUNT"}, {"real_amount", a}}}
}

// apiRefundQuery is alipay.trade.fastpay.refund.query. An unknown refund of
// a known trade answers 10000 without refund_status, as Alipay does.
func (s *Server) apiRefundQuery(ctx context.Context, req *gatewayRequest) (obj, error) {
	ref, err := req.Biz.ref()
	if err != nil {
		return nil, err
	}
	reqNo, err := req.Biz.strMax("out_request_no", 64)
	if err != nil {
		return nil, err
	}
	if reqNo == "" {
		return nil, errInvalidParam("缺少 out_request_no; 未传退款请求号的退款请填 out_trade_no (out_request_no is required; for a refund made without one, pass the out_trade_no)")
	}
	opts, err := req.Biz.strings("query_options")
	if err != nil {
		return nil, err
	}
	t, r, err := s.queryRefund(ctx, ref, reqNo, req.Now)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, nil
	}
	o := obj{}
	if slices.Contains(opts, "gmt_refund_pay") {
		o = o.add("gmt_refund_pay", alipay.FormatTimestamp(r.Created))
	}
	detail := slices.Contains(opts, "refund_detail_item_list")
	o = o.add("out_request_no", r.OutRequestNo).add("out_trade_no", t.OutTradeNo).add("refund_amount", r.Amount.String())
	if detail {
		o = o.add("refund_detail_item_list", refundDetail(*r))
	}
	o = o.addIf("refund_reason", r.Reason).add("refund_status", alipay.RefundSuccess)
	if detail {
		o = o.add("send_back_fee", r.Amount.String())
	}
	return o.add("total_amount", t.Total.String()).add("trade_no", t.TradeNo), nil
}

// apiClose is alipay.trade.close. The public notify_url of the close request,
// if any, receives the TRADE_CLOSED notification instead of the trade's.
func (s *Server) apiClose(ctx context.Context, req *gatewayRequest) (obj, error) {
	ref, err := req.Biz.ref()
	if err != nil {
		return nil, err
	}
	if _, err := req.Biz.strMax("operator_id", 28); err != nil {
		return nil, err
	}
	notifyURL := req.Params["notify_url"]
	if notifyURL != "" {
		if err := checkCallbackURL("notify_url", notifyURL); err != nil {
			return nil, err
		}
	}
	t, err := s.closeTrade(ctx, ref, notifyURL, req.Now)
	if err != nil {
		return obj{}.addIf("out_trade_no", ref.OutTradeNo).addIf("trade_no", ref.TradeNo), err
	}
	return obj{{"out_trade_no", t.OutTradeNo}, {"trade_no", t.TradeNo}}, nil
}
