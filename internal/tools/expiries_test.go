package tools

import (
	"testing"
	"time"
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
