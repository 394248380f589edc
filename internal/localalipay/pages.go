package localalipay

import "html/template"

// pages are the cashier, paid, error and index pages. Every page carries the
// red LOCAL banner; the ids (pay-form, pay, qr, error-code, paid, trade-no)
// are stable for tests and PayLink.
var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>本地模拟支付宝 · LOCAL Alipay (not real)</title>
<style>
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f5f5f5;color:#222}
.banner{background:#b00020;color:#fff;padding:10px 16px;font-weight:600;text-align:center}
main{max-width:560px;margin:24px auto;background:#fff;padding:24px;border-radius:8px}
.amount{font-size:32px;font-weight:700;margin:8px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;font-size:14px}
dt{color:#666}dd{margin:0;word-break:break-all}
button{background:#1677ff;color:#fff;border:0;border-radius:6px;padding:12px 24px;font-size:16px;width:100%;cursor:pointer}
.qr{text-align:center;margin:16px 0}.qr img{image-rendering:pixelated}
.small{font-size:12px;color:#666;word-break:break-all}
.error{color:#b00020}
</style></head><body>
<div class="banner" id="local-banner">本地模拟支付宝 — 不是真实的支付宝, 不会产生真实扣款 · LOCAL Alipay — not the real Alipay, no real money</div>
<main>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "order"}}<dl>
<dt>商品 Subject</dt><dd id="subject">{{.Trade.Subject}}</dd>
<dt>商户订单号 out_trade_no</dt><dd id="out-trade-no">{{.Trade.OutTradeNo}}</dd>
<dt>交易号 trade_no</dt><dd id="trade-no">{{.Trade.TradeNo}}</dd>
<dt>状态 Status</dt><dd id="status">{{.Status}}</dd>
{{if .Expires}}<dt>过期时间 Expires</dt><dd>{{.Expires}} (北京时间 Beijing time)</dd>{{end}}
</dl>{{end}}

{{define "cashier"}}{{template "head" .}}
<h1>{{if .Mobile}}手机收银台 Mobile cashier{{else}}收银台 Cashier{{end}}</h1>
<p class="amount">¥<span id="amount">{{.Amount}}</span></p>
{{template "order" .}}
{{if .QR}}<div class="qr"><img id="qr" src="{{.QR}}" alt="扫码付款 QR code">
<p class="small">用手机扫码打开手机收银台 (scan to open the mobile cashier; the phone must be able to reach this address):<br>{{.PhoneURL}}</p></div>{{end}}
<form id="pay-form" method="post" action="/cashier/pay" data-trade-no="{{.Trade.TradeNo}}">
<input type="hidden" name="trade_no" value="{{.Trade.TradeNo}}">
<input type="hidden" name="token" value="{{.Trade.PayToken}}">
<button id="pay" type="submit">确认付款 ¥{{.Amount}} · Pay (simulated)</button>
</form>
{{if .QuitURL}}<p><a id="cancel" href="{{.QuitURL}}">放弃付款 Cancel</a></p>{{end}}
<p class="small">这是本地模拟的支付宝收银台, 付款只改变本地测试数据。 This is a LOCAL simulation: paying only changes local test data.</p>
{{template "foot" .}}{{end}}

{{define "paid"}}{{template "head" .}}
<h1 id="paid">{{if .Paid}}该订单已支付 · This order is already paid{{else}}支付成功 · Payment succeeded (simulated){{end}}</h1>
<p class="amount">¥<span id="amount">{{.Amount}}</span></p>
{{template "order" .}}
{{if .ReturnLink}}<p><a id="return" href="{{.ReturnLink}}">返回商户 Back to the merchant</a></p>{{end}}
{{template "foot" .}}{{end}}

{{define "error"}}{{template "head" .}}
<h1 class="error">支付出错 · Payment error</h1>
<div id="error" data-code="{{.ErrorCode}}" data-sub-code="{{.ErrorSub}}">
<p>错误代码 Error code: <strong id="error-code">{{if .ErrorSub}}{{.ErrorSub}}{{else}}{{.ErrorCode}}{{end}}</strong></p>
<p id="error-msg">{{.ErrorMsg}}</p>
</div>
{{template "foot" .}}{{end}}

{{define "index"}}{{template "head" .}}
<h1>本地模拟支付宝 · LOCAL Alipay</h1>
<p>这是 mcp-server-alipay 自带的本地支付宝, 讲真实的开放平台协议, 但不连接支付宝, 不产生真实扣款。</p>
<p>This is the local Alipay of mcp-server-alipay: it speaks the real OpenAPI protocol but never talks to Alipay and never moves money.</p>
<ul><li>Gateway: <code>/gateway.do</code></li><li>Control API: <code>/_local/trades</code>, <code>/_local/faults</code> (see docs/local-alipay.md)</li></ul>
{{template "foot" .}}{{end}}
`))
