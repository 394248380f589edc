package tools

import (
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// An expiry is never shorter than asked (time_expire has whole seconds),
// nor beyond Alipay's 15 days.
func TestExpiryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 23, 50, 10, 999_000_000, time.UTC)
	tests := []struct {
		d    time.Duration
		want time.Time
	}{
		{time.Minute, time.Date(2026, 11, 29, 23, 51, 11, 0, time.UTC)},
		{24 * time.Hour, time.Date(2026, 11, 30, 23, 50, 11, 0, time.UTC)},
		{15 * 24 * time.Hour, time.Date(2026, 12, 14, 23, 49, 11, 0, time.UTC)},
	}
	for _, tt := range tests {
		got := expiryAfter(now, tt.d)
		if !got.Equal(tt.want) {
			t.Errorf("expiryAfter(%s) = %s, want %s", tt.d, got, tt.want)
		}
		if got.Sub(now) < min(tt.d, maxPayable) || got.Nanosecond() != 0 {
			t.Errorf("expiryAfter(%s) = %s: shorter than asked, or not whole seconds", tt.d, got)
		}
	}
	whole := time.Date(2026, 11, 29, 23, 50, 10, 0, time.UTC)
	if got := expiryAfter(whole, time.Minute); !got.Equal(whole.Add(time.Minute)) {
		t.Errorf("a whole second is kept: %s", got)
	}
}

// ACQ.ACCESS_FORBIDDEN on precreate says what to do: enable 当面付, or
// send a link instead.
func TestAdviceAccessForbidden(t *testing.T) {
	e := &alipay.Error{Code: "40004", SubCode: "ACQ.ACCESS_FORBIDDEN", SubMsg: "无权限使用接口"}
	for _, want := range []string{"开通当面付，或改发支付链接", "enable 当面付 (face-to-face), or send a payment link instead"} {
		if got := adviceFor(opQR, e); !strings.Contains(got, want) {
			t.Errorf("advice for precreate %q lacks %q", got, want)
		}
	}
	if got := adviceFor(opLink, e); strings.Contains(got, "当面付") {
		t.Errorf("advice for a link mentions 当面付: %q", got)
	}
}
