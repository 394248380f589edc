package paidhook

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

func TestVerify(t *testing.T) {
	body := testEvent(10).Body()
	now := time.Unix(1_795_000_000, 0)
	good := Sign(testSecret, now, body)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"good", testSecret, good, body, now, nil},
		{"late but within tolerance", testSecret, good, body, now.Add(4 * time.Minute), nil},
		{"replayed later", testSecret, good, body, now.Add(6 * time.Minute), ErrStale},
		{"from the future", testSecret, good, body, now.Add(-6 * time.Minute), ErrStale},
		{"tampered body", testSecret, good, []byte(strings.Replace(string(body), "12.44", "99.99", 1)), now, ErrBadSignature},
		{"wrong secret", "another-secret-0123456789", good, body, now, ErrBadSignature},
		{"tampered time", testSecret, strings.Replace(good, "t=1795000000", "t=1795000001", 1), body, now, ErrBadSignature},
		{"rotated secret", testSecret, Sign("old-secret-0123456789", now, body) + "," + strings.Split(good, ",")[1], body, now, nil},
		{"empty", testSecret, "", body, now, ErrNoSignature},
		{"no v1", testSecret, "t=1795000000", body, now, ErrNoSignature},
		{"garbage", testSecret, "sha256=abc", body, now, ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.secret, tt.header, tt.body, tt.now, 0); !errors.Is(got, tt.want) {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	if !strings.Contains(string(body), `"amount":"12.44"`) {
		t.Fatalf("the tampered-body case does not tamper: %s", body)
	}
}

// TestEventRoundTrip: what an outbox stores (Body) reads back (ParseEvent)
// to the same event, amounts exact to the fen.
func TestEventRoundTrip(t *testing.T) {
	for _, fen := range []int64{1, 7, 10, 99, 100, 1999, 10000000000} {
		e := testEvent(11)
		e.Amount = alipay.Amount(fen)
		got, err := ParseEvent(e.Body())
		if err != nil {
			t.Fatal(err)
		}
		if got.Amount != e.Amount || got.ID != e.ID || got.TradeNo != e.TradeNo || got.Subject != e.Subject || !got.PaidAt.Equal(e.PaidAt) || got.Env != e.Env || got.AppID != e.AppID {
			t.Errorf("round trip of %d fen: %+v, want %+v", fen, got, e)
		}
	}
	e := testEvent(12)
	e.TradeNo, e.PaidAt, e.Subject = "", time.Time{}, ""
	if b := string(e.Body()); strings.Contains(b, `"trade_no"`) || strings.Contains(b, `"paid_at"`) || strings.Contains(b, `"subject"`) {
		t.Errorf("unknown fields are written: %s", b)
	}
	for _, bad := range []string{`{}`, `{"id":"x","type":"order.refunded","out_trade_no":"o","amount":"1.00"}`, `{"id":"x","type":"order.paid","out_trade_no":"o","amount":"1.001"}`, `not json`} {
		if _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("ParseEvent(%s) accepted", bad)
		}
	}
}

func TestNewEventIDIsStable(t *testing.T) {
	a := NewEventID("prod", "2021000000000001", "T1")
	if a != NewEventID("prod", "2021000000000001", "T1") || !strings.HasPrefix(a, "evt_") || len(a) != 28 {
		t.Errorf("id %q is not stable or not evt_ + 24 hex", a)
	}
	for _, other := range []string{NewEventID("sandbox", "2021000000000001", "T1"), NewEventID("prod", "2021000000000002", "T1"), NewEventID("prod", "2021000000000001", "T2")} {
		if other == a {
			t.Errorf("%q: different orders share an id", other)
		}
	}
}
