package alipay

import (
	"crypto/rsa"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
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

func testAlipayPublic(t testing.TB) *rsa.PublicKey {
	t.Helper()
	k, err := ParsePublicKey("test", mustRead(t, "test-alipay-public-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Timestamps are Beijing wall-clock time whatever the host zone says.
func TestTimestampChinaTime(t *testing.T) {
	t.Setenv("TZ", "America/New_York")
	saved := time.Local
	time.Local = time.FixedZone("EST", -5*3600)
	t.Cleanup(func() { time.Local = saved })

	instant := time.Date(2024, 1, 1, 4, 0, 0, 0, time.UTC)
	for _, in := range []time.Time{instant, instant.In(time.Local), instant.Local()} {
		if got := FormatTimestamp(in); got != "2024-01-01 12:00:00" {
			t.Errorf("FormatTimestamp(%v) = %s, want 2024-01-01 12:00:00", in, got)
		}
	}
	got, err := ParseTimestamp("2024-01-01 12:00:00")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(instant) {
		t.Errorf("ParseTimestamp = %v, want %v", got, instant)
	}
	if _, off := got.Zone(); off != 8*3600 {
		t.Errorf("ParseTimestamp zone offset %d, want +8h", off)
	}
	for _, bad := range []string{"2024-01-01T12:00:00", "2024/01/01 12:00:00", "2024-01-01 12:00", ""} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) accepted", bad)
		}
	}
	// The client's own requests carry the same wall time.
	c := &Client{cfg: Config{AppID: "1", SignType: RSA2, Now: func() time.Time { return instant.In(time.Local) }}}
	if ts := c.commonParams(MethodQuery)["timestamp"]; ts != "2024-01-01 12:00:00" {
		t.Errorf("request timestamp %s", ts)
	}
}

// KAT-N3 (notes §11.3): a notification's sign content and signature, and
// that VerifyNotification checks it over the decoded form values, dropping
// sign and sign_type.
func TestNotificationKAT(t *testing.T) {
	const wantContent = `app_id=2021000122671080&auth_app_id=2021000122671080&buyer_id=2088102177846880&buyer_pay_amount=88.88&charset=utf-8&fund_bill_list=[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]&gmt_create=2024-01-01 12:00:05&gmt_payment=2024-01-01 12:00:09&invoice_amount=88.88&notify_id=2024010100222120009000000000000001&notify_time=2024-01-01 12:00:10&notify_type=trade_status_sync&out_trade_no=T20240101001&passback_params=a%3D1%26b%3D2&point_amount=0.00&receipt_amount=88.88&seller_id=2088102177000000&subject=测试&total_amount=88.88&trade_no=2024010122001400000000000001&trade_status=TRADE_SUCCESS&version=1.0`
	const wantSign = "fg62pUL/Sflz5GsFM3yHRZYqqFa2ebSKUDEyiYBwPcnhsxC8nGnRTp09VpJAcGdEftLoNt0i7DdX5RgIOfvIP5/lUe/IVvzg2OcPn/HvUOE7qoqUCN7Gl5TLmRZS4ormb/9qejjaszIv31YAH1PcNNyukmIbsCj0MromWhQMw9JdJdJpPzxliw83kFwYOhMA51TdItyGXohG8IzE0j/qLBmJxHcq5YsiNoisVqflvvliHEUmiG1hiEbjeIMmeOLDiOJn9M1OXmSSaKlArWrw47Z4Xajlg/2Q449Vq6G/Qj8ArwAoKsVHQt8F5dGeup4JPJmqg9hDUjB1sMxuEHYQAA=="
	form := katN3Form(wantSign)
	params, err := FlattenForm(form)
	if err != nil {
		t.Fatal(err)
	}
	if got := NotifySignContent(params); got != wantContent {
		t.Fatalf("notify sign content\n got %s\nwant %s", got, wantContent)
	}
	key := appKey(t)
	if got, err := Sign(key, RSA2, []byte(wantContent)); err != nil || got != wantSign {
		t.Fatalf("signature %s, %v", got, err)
	}
	if err := VerifyNotification(&key.PublicKey, params); err != nil {
		t.Fatalf("KAT-N3 does not verify: %v", err)
	}
	for name, mutate := range map[string]func(url.Values){
		"amount changed":       func(v url.Values) { v.Set("total_amount", "0.01") },
		"passback decoded":     func(v url.Values) { v.Set("passback_params", "a=1&b=2") },
		"field added":          func(v url.Values) { v.Set("extra", "1") },
		"sign missing":         func(v url.Values) { v.Del("sign") },
		"sign with a space":    func(v url.Values) { v.Set("sign", wantSign[:10]+" "+wantSign[11:]) },
		"sign_type RSA (SHA1)": func(v url.Values) { v.Set("sign_type", "RSA") },
	} {
		t.Run(name, func(t *testing.T) {
			f := katN3Form(wantSign)
			mutate(f)
			p, err := FlattenForm(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyNotification(&key.PublicKey, p); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("want ErrBadSignature, got %v", err)
			}
		})
	}
	t.Run("wire form", func(t *testing.T) {
		// On the wire passback_params is encoded twice; parsing the body once
		// gives the value that was signed.
		wire := form.Encode()
		if !strings.Contains(wire, "passback_params=a%253D1%2526b%253D2") {
			t.Fatalf("unexpected wire form %s", wire)
		}
		back, err := url.ParseQuery(wire)
		if err != nil {
			t.Fatal(err)
		}
		p, err := FlattenForm(back)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyNotification(&key.PublicKey, p); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("duplicate parameter refused", func(t *testing.T) {
		f := katN3Form(wantSign)
		f.Add("total_amount", "0.01")
		if _, err := FlattenForm(f); err == nil || !strings.Contains(err.Error(), "total_amount") {
			t.Fatalf("want an error naming total_amount, got %v", err)
		}
	})
}

func katN3Form(sign string) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{
		"app_id": "2021000122671080", "auth_app_id": "2021000122671080", "buyer_id": "2088102177846880",
		"buyer_pay_amount": "88.88", "charset": "utf-8",
		"fund_bill_list": `[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]`,
		"gmt_create":     "2024-01-01 12:00:05", "gmt_payment": "2024-01-01 12:00:09", "invoice_amount": "88.88",
		"notify_id": "2024010100222120009000000000000001", "notify_time": "2024-01-01 12:00:10",
		"notify_type": "trade_status_sync", "out_trade_no": "T20240101001", "passback_params": "a%3D1%26b%3D2",
		"point_amount": "0.00", "receipt_amount": "88.88", "seller_id": "2088102177000000", "subject": "测试",
		"total_amount": "88.88", "trade_no": "2024010122001400000000000001", "trade_status": "TRADE_SUCCESS",
		"version": "1.0", "sign_type": "RSA2", "sign": sign,
	} {
		v.Set(k, s)
	}
	return v
}

func TestParseSignType(t *testing.T) {
	for in, want := range map[string]SignType{"": RSA2, "RSA2": RSA2, " rsa2 ": RSA2, "RSA": RSA} {
		if got, err := ParseSignType(in); err != nil || got != want {
			t.Errorf("ParseSignType(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSignType("SM2"); err == nil || !strings.Contains(err.Error(), "RSA2") {
		t.Errorf("SM2 accepted or unclear error: %v", err)
	}
}
