package notify

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
)

// Store is what the receiver needs of the ledger: one app's records in one
// environment (*ledger.Account satisfies it).
type Store interface {
	Order(ctx context.Context, outTradeNo string) (ledger.Order, error)
	RecordNotification(ctx context.Context, n ledger.Notification) (duplicate bool, err error)
	RecordStatus(ctx context.Context, s ledger.StatusSeen) (changed bool, err error)
	PinSeller(ctx context.Context, sellerID string) (pinned string, err error)
}

// Results counted by Options.Count. Every request counts Received, then
// exactly one of Verified (a new notification, acted on), Duplicate (a
// notify_id already recorded: answered success, nothing done again),
// Rejected (it failed a check: answered fail, never taken as paid) or
// Failed (it could not be recorded: answered fail, so Alipay sends it again).
const (
	Received  = "received"
	Verified  = "verified"
	Duplicate = "duplicate"
	Rejected  = "rejected"
	Failed    = "failed"
)

// Options configure a Receiver.
type Options struct {
	Store     Store          // the app's ledger account; required
	AppID     string         // AP_APP_ID: the only app_id accepted; required
	AlipayKey *rsa.PublicKey // AP_PUB_KEY: the Alipay public key; required
	// SellerID is the seller (seller_id) every notification must name:
	// AP_SELLER_ID, or the local Alipay's. Empty: the first notification
	// that passes every other check pins its seller_id in the ledger (one
	// per app and environment, whatever auth_app_id a notification names)
	// and later ones must name the same.
	SellerID string
	// ServiceProvider says the app calls Alipay for a merchant
	// (AP_INVOKE_AUTH_TOKEN, app_auth_token is set): its notifications name
	// the merchant's app in auth_app_id. False, a self-use app: auth_app_id
	// is the app itself (notes §7.2: "equal unless ISV"), so a notification
	// naming another one is refused.
	ServiceProvider bool
	// Logger gets one line per notification (notify_id, out_trade_no,
	// status, result, and why a rejected one was rejected); nil discards.
	Logger *slog.Logger
	// Count is called with Received and then the result of every request
	// (for /metrics); nil counts nothing.
	Count func(result string)
	// MaxBody bounds a notification's body; 0 = 64 KiB (a notification is
	// about 1.5 KiB).
	MaxBody int64
}

// Receiver is the http.Handler Alipay posts notifications to (the path of
// AP_NOTIFY_URL). It needs no bearer token: Alipay signs its posts.
type Receiver struct {
	o Options
}

// Answers Alipay reads: exactly "success" stops the retries, anything else
// (here "fail") makes it send the same notification again later.
const (
	answerSuccess = "success"
	answerFail    = "fail"
)

// New checks the options and returns the receiver.
func New(o Options) (*Receiver, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("notify: 需要账本 / a ledger is required")
	case o.AppID == "":
		return nil, errors.New("notify: 需要 AP_APP_ID / AP_APP_ID is required")
	case o.AlipayKey == nil:
		return nil, errors.New("notify: 需要 AP_PUB_KEY (支付宝公钥) / AP_PUB_KEY (the Alipay public key) is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 10
	}
	return &Receiver{o: o}, nil
}

// rejection is a notification that failed a check: it is answered "fail",
// logged and recorded unverified, and changes no order.
type rejection struct {
	reason string // for the log and the ledger; never holds a secret
}

func (r *rejection) Error() string { return r.reason }

func reject(format string, a ...any) error { return &rejection{reason: fmt.Sprintf(format, a...)} }

// ServeHTTP handles one POST from Alipay.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.o.Count(Received)
	if r.Method != http.MethodPost {
		rc.o.Count(Rejected)
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, answerFail)
		return
	}
	// The body only, parsed once: never r.Form, which would merge the
	// query string into the verified set, and never ParseForm, which fails
	// on the Content-Type Alipay has been seen to send (notes §7.1).
	body, err := io.ReadAll(io.LimitReader(r.Body, rc.o.MaxBody+1))
	if err != nil {
		rc.o.Count(Failed)
		answer(w, http.StatusBadRequest, answerFail)
		return
	}
	ctx := r.Context()
	params, outcome, err := rc.handle(ctx, body)
	log := []slog.Attr{slog.String("notify_id", clip(params["notify_id"])), slog.String("out_trade_no", clip(params["out_trade_no"])),
		slog.String("trade_status", clip(params["trade_status"]))}
	var rej *rejection
	switch {
	case errors.As(err, &rej):
		rc.o.Count(Rejected)
		rc.recordRejected(ctx, params, rej.reason)
		rc.o.Logger.LogAttrs(ctx, slog.LevelWarn, "通知未通过验证, 答复 fail / alipay notification rejected",
			append(log, slog.String("result", Rejected), slog.String("reason", rej.reason))...)
		answer(w, http.StatusOK, answerFail)
	case err != nil:
		rc.o.Count(Failed)
		rc.o.Logger.LogAttrs(ctx, slog.LevelError, "通知未能记录, 答复 fail 让支付宝重发 / alipay notification not recorded; answered fail so that Alipay sends it again",
			append(log, slog.String("result", Failed), slog.String("error", err.Error()))...)
		answer(w, http.StatusInternalServerError, answerFail)
	default:
		rc.o.Count(outcome)
		rc.o.Logger.LogAttrs(ctx, slog.LevelInfo, "支付宝异步通知 / alipay notification", append(log, slog.String("result", outcome))...)
		answer(w, http.StatusOK, answerSuccess)
	}
}

// handle verifies a notification, records it, and applies it to its order.
// It returns the parameters (for the log, possibly unverified), Verified or
// Duplicate, or an error: a *rejection, or the ledger failing.
func (rc *Receiver) handle(ctx context.Context, body []byte) (map[string]string, string, error) {
	if int64(len(body)) > rc.o.MaxBody {
		return nil, "", reject("通知过大, 超过 %d 字节 / body larger than %d bytes", rc.o.MaxBody, rc.o.MaxBody)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, "", reject("通知不是表单 / body is not a form: %v", err)
	}
	p, err := alipay.FlattenForm(form)
	if err != nil {
		return nil, "", reject("%v", err)
	}
	// 1. The signature under the Alipay public key (notes §7.3).
	if err := alipay.VerifyNotification(rc.o.AlipayKey, p); err != nil {
		return p, "", reject("签名无效 / invalid signature: %v", err)
	}
	// 2. Our app (notes §7.6 item 4).
	if p["app_id"] != rc.o.AppID {
		return p, "", reject("app_id %q 不是本服务器的 %q / app_id %q is not this server's %q", clip(p["app_id"]), rc.o.AppID, clip(p["app_id"]), rc.o.AppID)
	}
	if p["notify_type"] != "trade_status_sync" {
		return p, "", reject("不支持的通知类型 notify_type %q / notify_type %q is not trade_status_sync", clip(p["notify_type"]), clip(p["notify_type"]))
	}
	if p["notify_id"] == "" {
		return p, "", reject("缺少 notify_id / no notify_id")
	}
	status := p["trade_status"]
	switch status {
	case alipay.TradeWaitBuyerPay, alipay.TradeSuccess, alipay.TradeFinished, alipay.TradeClosed:
	default:
		return p, "", reject("未知的交易状态 trade_status %q / trade_status %q is not one Alipay sends", clip(status), clip(status))
	}
	// 3. One of our orders (item 1), 4. for the amount we asked (item 2).
	no := p["out_trade_no"]
	if no == "" {
		return p, "", reject("缺少 out_trade_no / no out_trade_no")
	}
	order, err := rc.o.Store.Order(ctx, no)
	if errors.Is(err, ledger.ErrNotFound) {
		return p, "", reject("out_trade_no %q 不是本服务器账本中的订单 / out_trade_no %q is not an order in the ledger", clip(no), clip(no))
	}
	if err != nil {
		return p, "", fmt.Errorf("读取订单 / read order %s: %w", no, err)
	}
	total, err := alipay.ParseResponseAmount(p["total_amount"])
	if err != nil {
		return p, "", reject("total_amount %q: %v", clip(p["total_amount"]), err)
	}
	if total != order.Amount {
		return p, "", reject("total_amount %s 与账本中订单的金额 %s 不符 / total_amount %s differs from the order's %s in the ledger", total, order.Amount, total, order.Amount)
	}
	// 5. The trade the order already has (notes §7.6): a verified
	// notification naming another trade number is about another trade; it
	// must neither pay the order nor overwrite its trade number.
	if tn := p["trade_no"]; order.TradeNo != "" && tn != "" && tn != order.TradeNo {
		return p, "", reject("trade_no %q 与账本中订单的交易号 %q 不符, 是另一笔交易的通知 / trade_no %q differs from the order's %q in the ledger: the notification is about another trade",
			clip(tn), order.TradeNo, clip(tn), order.TradeNo)
	}
	// 6. The expected seller (notes §7.6 item 3): a notification Alipay
	// signed for a payment to another merchant pays nothing here.
	seller := p["seller_id"]
	if seller == "" {
		return p, "", reject("缺少 seller_id / no seller_id")
	}
	// A self-use app's trades are its own: auth_app_id, when sent, is
	// app_id. Checked before the pin, so that no such notification pins.
	if auth := p["auth_app_id"]; !rc.o.ServiceProvider && auth != "" && auth != rc.o.AppID {
		return p, "", reject("auth_app_id %q 不是本应用 %q (未配置 AP_INVOKE_AUTH_TOKEN, 本应用不代商户调用) / auth_app_id %q is not this app %q (no AP_INVOKE_AUTH_TOKEN: this app does not act for a merchant)",
			clip(auth), rc.o.AppID, clip(auth), rc.o.AppID)
	}
	want := rc.o.SellerID
	if want == "" {
		// One seller per app and environment, whatever auth_app_id says:
		// a notification must not choose the pin it is checked against.
		if want, err = rc.o.Store.PinSeller(ctx, seller); err != nil {
			return p, "", fmt.Errorf("固定 seller_id / pin seller_id: %w", err)
		}
	}
	if seller != want {
		return p, "", reject("seller_id %q 不是本商户的 %q (AP_SELLER_ID, 或首个通过验证的通知所定) / seller_id %q is not this merchant's %q (AP_SELLER_ID, or pinned by the first notification that passed every check)",
			clip(seller), want, clip(seller), want)
	}
	// Recorded first: if this write (or the next) fails, Alipay hears
	// "fail" and sends it again. A notify_id seen before is a duplicate.
	dup, err := rc.o.Store.RecordNotification(ctx, ledger.Notification{NotifyID: p["notify_id"], OutTradeNo: no, Params: p, Verified: true})
	if err != nil {
		return p, "", fmt.Errorf("记录通知 / record notification: %w", err)
	}
	// Applied even to a duplicate: if the process died between the two
	// writes, the retry finishes the job. A status never moves back and the
	// paid event is queued once, so a second application changes nothing.
	_, err = rc.o.Store.RecordStatus(ctx, ledger.StatusSeen{OutTradeNo: no, Status: status, TradeNo: p["trade_no"],
		Amount: total, Source: ledger.SourceNotification, Who: "alipay"})
	if err != nil {
		return p, "", fmt.Errorf("记录订单状态 / record status: %w", err)
	}
	if dup {
		return p, Duplicate, nil
	}
	return p, Verified, nil
}

// recordRejected keeps a rejected notification in the ledger for the
// merchant to look at, without its notify_id in the dedupe key: a forged
// post must not make Alipay's real notification with that id a duplicate.
func (rc *Receiver) recordRejected(ctx context.Context, p map[string]string, reason string) {
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := rc.o.Store.RecordNotification(ctx, ledger.Notification{OutTradeNo: clip(p["out_trade_no"]), Params: p,
		VerifyError: reason}); err != nil {
		rc.o.Logger.LogAttrs(ctx, slog.LevelWarn, "未通过验证的通知未能记录 / rejected alipay notification not recorded", slog.String("error", err.Error()))
	}
}

func answer(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// clip bounds a value from an unverified post before it is logged.
func clip(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}
