package alipay

import (
	"os"
	"testing"
)

func mustRead(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// KAT-S1 (notes §2.3): request signing, RSA2 and RSA, byte for byte.
func TestSignKnownAnswers(t *testing.T) {
	key, err := ParsePrivateKey("test", mustRead(t, "app-private-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	query := map[string]string{
		"app_id": "2021000122671080", "method": "alipay.trade.query", "format": "JSON",
		"charset": "utf-8", "sign_type": "RSA2", "timestamp": "2024-01-01 12:00:00", "version": "1.0",
		"biz_content": `{"out_trade_no":"T20240101001"}`, "app_auth_token": "",
	}
	wantContent := `app_id=2021000122671080&biz_content={"out_trade_no":"T20240101001"}&charset=utf-8&format=JSON&method=alipay.trade.query&sign_type=RSA2&timestamp=2024-01-01 12:00:00&version=1.0`
	if got := SignContent(query); got != wantContent {
		t.Fatalf("sign content\n got %s\nwant %s", got, wantContent)
	}
	page := map[string]string{
		"app_id": "2021000122671080", "method": "alipay.trade.page.pay", "charset": "utf-8",
		"sign_type": "RSA2", "timestamp": "2024-01-01 12:00:00", "version": "1.0",
		"notify_url": "https://example.com/notify", "return_url": "https://example.com/return",
		"biz_content": `{"out_trade_no":"T20240101001","product_code":"FAST_INSTANT_TRADE_PAY","subject":"测试","total_amount":"0.01"}`,
	}
	for _, tc := range []struct {
		name    string
		t       SignType
		content string
		want    string
	}{
		{"query RSA2", RSA2, wantContent, "er8JMUIyzV6fMeJDTVQlhhVuxXPi3HRUoEQuXENTf2xVjV+wPht2LcdMt4YIzTbrLm+rnZ3ASMx26uWJguJzIEGxZAaxaKR/KDkhc4IGXOZ0an9rbvZXNgnAtlclUbquGASTCzYsyvnnhVSDkt18fLZ/jbhvCuECAxljUunwSxVPwkOwGz31A1l1GfslhyL715Arz5U4rv5ovUnlSHy/uE4i/YX9hAbghXobkc8DM/680kcmj3KpuUCikEza4782oCA5HULk+fvpMPHBAZPf4bWfyPJWekBdK9NqFciJA5drFYcksoQoitzuSQwXDtPpUCS5GJjfPi3TqUOW3ZlE3w=="},
		{"query RSA", RSA, wantContent, "XkAxtAd5Xu+OvewRcnXAzmoTpuvRlRsZ8JaqYJdR4hC4lsUKRd4yY5RiLS9t27PeI6p+nceC/igUUTfD6E0XWmchzPJdWJZwUOuQ0PuK67XkldEJnIoPOHF3ZiedNrjcbZunmvrT2dI65mqX3nDoMfxUxZ1B5CMX9cnhdkGP9W8G+ZrgfZcP2uXYWWoJeKiM3Wj+GMvEqjMpkYiBeC/QTDlSMHRcUo6tr1w3xqleaPY7W5o+eMGuARadmlFkSU6vC303Zik2tTrFfZozgwyVsiMu4pa9Q2L15Pmv305yG6Q/RG3WLQqFOusPerVbwYGO3l6NantCEaZr2M+gzcOEnQ=="},
		{"page pay RSA2", RSA2, SignContent(page), "FrQZ4u5JF6G+rByxjQIyBSZ91hXkrKk2BhocKlxoNqrK0QZDLOVNmXRNhkfmN5M3G7RkHEHPjHLoYsCxYrvHiUT33ZQX2ymHjs7wf41fVOq179vCjXKTM/LcTw8vL4MBEi8iNQJTi2jK4T786ZlM0xezrXvATRggIUj8FITAujdrUvW/LdioBVJZV4vCzW6XjmUiMF3vG0mdE3tnnZ3nKL3V/i3QHSF3ADNlE8zIklU6c2RXvd8WO8uLpx5w6sJGC5y4l3opbyQJLO5zYbkoSkLKY65XPagDGMBUsvffGNVrP7tlh6NWF4Au8sDJEznXmSI7JxeFR5WvjmwwgJRuPA=="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Sign(key, tc.t, []byte(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("signature\n got %s\nwant %s", got, tc.want)
			}
			if err := Verify(&key.PublicKey, tc.t, []byte(tc.content), got); err != nil {
				t.Fatalf("own signature does not verify: %v", err)
			}
		})
	}
}
