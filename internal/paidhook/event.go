package paidhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/display"
)

// TypeOrderPaid is the type of the one event the sender delivers today.
const TypeOrderPaid = "order.paid"

// Headers of a generic delivery.
const (
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
	HeaderSignature = "X-Alipay-MCP-Signature"
	// HeaderEventID repeats the event's id, stable across retries, so a
	// receiver can drop a duplicate before parsing the body.
	HeaderEventID = "X-Alipay-MCP-Event-Id"
	// HeaderEventType repeats the event's type.
	HeaderEventType = "X-Alipay-MCP-Event-Type"
	// HeaderAttempt is the delivery attempt, 1 for the first.
	HeaderAttempt = "X-Alipay-MCP-Attempt"
)

// DefaultTolerance is how far Verify lets the signed timestamp be from the
// receiver's clock, either way: a captured request replayed later fails.
const DefaultTolerance = 5 * time.Minute

// beijing is Alipay's time zone (UTC+8, no daylight saving), in which paid
// times are shown to merchants.
var beijing = time.FixedZone("CST", 8*3600)

// Event is one order.paid event as the outbox holds it. It carries nothing
// secret: no key, no signed URL, no app_auth_token.
type Event struct {
	// ID is stable for the event's whole life, across retries and restarts;
	// receivers deduplicate on it. NewEventID derives one from the order.
	ID         string
	OutTradeNo string
	TradeNo    string        // Alipay's trade number; may be empty when the source did not say
	Subject    string        // the order's title, as on the payment link; may be empty
	Amount     alipay.Amount // total paid, in fen
	PaidAt     time.Time     // when the buyer paid (Alipay's send_pay_date) or, failing that, when it was seen
	Env        string        // prod, sandbox or local
	AppID      string
	// Attempts is how many deliveries have failed so far; the sender's
	// backoff goes on from it after a restart.
	Attempts int
}

// NewEventID is the id of the order.paid event of one order: the same
// order in the same app and environment always gets the same id, so two
// processes (or a poll and a notification) that both queue it produce one
// event as far as the receiver can tell.
func NewEventID(env, appID, outTradeNo string) string {
	h := sha256.Sum256([]byte(TypeOrderPaid + "\x00" + env + "\x00" + appID + "\x00" + outTradeNo))
	return "evt_" + hex.EncodeToString(h[:12])
}

// payload is the JSON body of a generic delivery. Field names follow
// Alipay's own (out_trade_no, trade_no); the amount is a string of yuan
// with two decimals, built from integer fen, so no float touches it.
type payload struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	OutTradeNo string `json:"out_trade_no"`
	TradeNo    string `json:"trade_no,omitempty"`
	Subject    string `json:"subject,omitempty"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	PaidAt     string `json:"paid_at,omitempty"`
	Env        string `json:"env"`
	AppID      string `json:"app_id,omitempty"`
}

// Body is the event's JSON, as POSTed to a generic endpoint.
func (e Event) Body() []byte {
	p := payload{
		ID: e.ID, Type: TypeOrderPaid, OutTradeNo: e.OutTradeNo, TradeNo: e.TradeNo, Subject: e.Subject,
		Amount: e.Amount.String(), Currency: "CNY", Env: e.Env, AppID: e.AppID,
	}
	if !e.PaidAt.IsZero() {
		p.PaidAt = e.PaidAt.In(beijing).Format(time.RFC3339)
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic("paidhook: marshal event: " + err.Error()) // strings only: cannot fail
	}
	return b
}

// ParseEvent reads an event back from its Body, as an outbox that stores
// the body verbatim (so every attempt sends the same bytes) hands it out.
func ParseEvent(body []byte) (Event, error) {
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, fmt.Errorf("paidhook: event JSON: %w", err)
	}
	if p.Type != TypeOrderPaid || p.ID == "" || p.OutTradeNo == "" {
		return Event{}, fmt.Errorf("paidhook: not an %s event (type %q, id %q)", TypeOrderPaid, p.Type, p.ID)
	}
	amount, err := alipay.ParseResponseAmount(p.Amount)
	if err != nil {
		return Event{}, fmt.Errorf("paidhook: event %s amount: %w", p.ID, err)
	}
	e := Event{ID: p.ID, OutTradeNo: p.OutTradeNo, TradeNo: p.TradeNo, Subject: p.Subject, Amount: amount, Env: p.Env, AppID: p.AppID}
	if p.PaidAt != "" {
		if e.PaidAt, err = time.Parse(time.RFC3339, p.PaidAt); err != nil {
			return Event{}, fmt.Errorf("paidhook: event %s paid_at: %w", p.ID, err)
		}
	}
	return e, nil
}

// Text is the event as one message for a person, Chinese first, then
// English, as the bots show it.
func (e Event) Text() string {
	var b strings.Builder
	// The subject is the order title a model wrote and the trade number
	// came from a notification: neither may shape the bot's message (a
	// line of its own, a link, bold, bidi or zero-width characters).
	fmt.Fprintf(&b, "订单已支付 / Order paid: %s ¥%s", display.Plain(e.OutTradeNo, 64), e.Amount)
	if e.Subject != "" {
		fmt.Fprintf(&b, "\n商品 / Subject: %s", display.Plain(e.Subject, 256))
	}
	if e.TradeNo != "" {
		fmt.Fprintf(&b, "\n支付宝交易号 / Alipay trade_no: %s", display.Plain(e.TradeNo, 64))
	}
	if !e.PaidAt.IsZero() {
		fmt.Fprintf(&b, "\n付款时间 / Paid at: %s (北京时间 / Beijing time)", e.PaidAt.In(beijing).Format("2006-01-02 15:04:05"))
	}
	env := e.Env
	if e.AppID != "" {
		env += " · app " + e.AppID
	}
	fmt.Fprintf(&b, "\n环境 / Environment: %s\n事件 / Event: %s", env, e.ID)
	return b.String()
}

// Sign returns the X-Alipay-MCP-Signature value for body at time t:
// "t=<unix seconds>,v1=<hex(HMAC-SHA256(secret, "<unix seconds>.<body>"))>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("缺少或无法解析签名头 / missing or malformed " + HeaderSignature + " header")
	ErrBadSignature = errors.New("签名不符 / signature does not match")
	ErrStale        = errors.New("签名时间超出允许范围, 可能是重放 / signature timestamp outside the tolerance: a replay or a wrong clock")
)

// Verify checks a delivery as a receiver should, before acting on it:
// header is the X-Alipay-MCP-Signature value, body the raw request body
// (not re-encoded JSON), now the receiver's clock and tolerance how far the
// signed time may be from it (DefaultTolerance when zero). It compares in
// constant time and accepts any of several v1 values, so a secret can be
// rotated by signing with both for a while. Replays inside the tolerance
// are the receiver's to drop, by event id.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if s, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
