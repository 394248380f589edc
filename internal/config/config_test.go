package config

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paidhook"
)

type keys struct {
	appPriv, appPub, alipayPub string
}

var (
	keysOnce sync.Once
	testKeys keys
)

// genKeys makes an app key pair and a separate Alipay key pair, encoded the
// way the Alipay portal shows them (one-line base64).
func genKeys(t *testing.T) keys {
	t.Helper()
	keysOnce.Do(func() {
		app, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ali, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKeys.appPriv, _ = alipay.EncodePrivateKeyPKCS8(app)
		testKeys.appPub, _ = alipay.EncodePublicKey(&app.PublicKey)
		testKeys.alipayPub, _ = alipay.EncodePublicKey(&ali.PublicKey)
	})
	return testKeys
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv(t *testing.T) map[string]string {
	k := genKeys(t)
	return map[string]string{
		"AP_APP_ID":  "2021000000000001",
		"AP_APP_KEY": k.appPriv,
		"AP_PUB_KEY": k.alipayPub,
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(validEnv(t)))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Env != Prod || c.GatewayURL != alipay.ProdGateway || c.SignType != alipay.RSA2 || !c.LogEnabled {
		t.Errorf("defaults: env=%s gateway=%s sign=%s log=%t", c.Env, c.GatewayURL, c.SignType, c.LogEnabled)
	}
	if strings.Join(c.Tools, ",") != allDefault {
		t.Errorf("tools = %v, want %s", c.Tools, allDefault)
	}
	if c.ReadOnly || c.PayTimeout != DefaultPayTimeout || DefaultPayTimeout != 24*time.Hour {
		t.Errorf("ReadOnly %t, PayTimeout %s: want off and %s by default", c.ReadOnly, c.PayTimeout, DefaultPayTimeout)
	}
	if c.RefundMax != 0 {
		t.Errorf("RefundMax = %v, want no cap", c.RefundMax)
	}
	if !c.WatchPayments {
		t.Error("WatchPayments is off by default")
	}
	if c.RefundConfirm != ConfirmAuto {
		t.Errorf("RefundConfirm = %q, want auto", c.RefundConfirm)
	}
}

func TestLoadVariants(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"sandbox", map[string]string{"AP_CURRENT_ENV": "sandbox"}, func(t *testing.T, c *Config) {
			if c.GatewayURL != alipay.SandboxGateway {
				t.Errorf("gateway %s", c.GatewayURL)
			}
		}},
		{"gateway override", map[string]string{"AP_GATEWAY_URL": "http://127.0.0.1:9/gateway.do"}, func(t *testing.T, c *Config) {
			if c.GatewayURL != "http://127.0.0.1:9/gateway.do" {
				t.Errorf("gateway %s", c.GatewayURL)
			}
		}},
		{"RSA", map[string]string{"AP_ENCRYPTION_ALGO": "RSA"}, func(t *testing.T, c *Config) {
			if c.SignType != alipay.RSA {
				t.Errorf("sign type %s", c.SignType)
			}
		}},
		{"log off", map[string]string{"AP_LOG_ENABLED": "no"}, func(t *testing.T, c *Config) {
			if c.LogEnabled {
				t.Error("log enabled")
			}
		}},
		{"watch off", map[string]string{"AP_WATCH_PAYMENTS": "0"}, func(t *testing.T, c *Config) {
			if c.WatchPayments || !strings.Contains(c.String(), "WatchPayments:false") {
				t.Errorf("watch on, String %s", c)
			}
		}},
		{"watch on", map[string]string{"AP_WATCH_PAYMENTS": " Yes "}, func(t *testing.T, c *Config) {
			if !c.WatchPayments {
				t.Error("watch off")
			}
		}},
		{"urls", map[string]string{"AP_RETURN_URL": "https://shop.example/ok?x=1", "AP_NOTIFY_URL": "https://shop.example/notify"}, func(t *testing.T, c *Config) {
			if c.ReturnURL != "https://shop.example/ok?x=1" || c.NotifyURL != "https://shop.example/notify" {
				t.Errorf("urls %s %s", c.ReturnURL, c.NotifyURL)
			}
		}},
		{"seller id", map[string]string{"AP_SELLER_ID": " 2088102177000000 "}, func(t *testing.T, c *Config) {
			if c.SellerID != "2088102177000000" {
				t.Errorf("seller id %q", c.SellerID)
			}
		}},
		{"refund cap", map[string]string{"AP_REFUND_MAX_AMOUNT": "99.50"}, func(t *testing.T, c *Config) {
			if c.RefundMax != 9950 {
				t.Errorf("cap %d", c.RefundMax)
			}
		}},
		{"confirm always", map[string]string{"AP_REFUND_CONFIRM": " Always "}, func(t *testing.T, c *Config) {
			if c.RefundConfirm != ConfirmAlways || !strings.Contains(c.String(), "RefundConfirm:always") {
				t.Errorf("confirm %q, String %s", c.RefundConfirm, c)
			}
		}},
		{"confirm never", map[string]string{"AP_REFUND_CONFIRM": "never"}, func(t *testing.T, c *Config) {
			if c.RefundConfirm != ConfirmNever {
				t.Errorf("confirm %q", c.RefundConfirm)
			}
		}},
		{"paid webhook to a dingtalk bot", map[string]string{
			"AP_PAID_WEBHOOK":        "https://oapi.dingtalk.com/robot/send?access_token=dt-token-123456",
			"AP_PAID_WEBHOOK_SECRET": "SEC0123456789",
		}, func(t *testing.T, c *Config) {
			if c.PaidWebhook.Kind() != paidhook.DingTalk || !c.PaidWebhook.Signed() {
				t.Errorf("PaidWebhook = %s kind %s signed %t, want a signed DingTalk bot", c.PaidWebhook, c.PaidWebhook.Kind(), c.PaidWebhook.Signed())
			}
			if s := c.String(); strings.Contains(s, "dt-token-123456") || strings.Contains(s, "SEC0123456789") {
				t.Errorf("String shows the webhook's token or secret: %s", s)
			}
		}},
		{"no paid webhook", map[string]string{"AP_PAID_WEBHOOK_SECRET": "0123456789abcdef"}, func(t *testing.T, c *Config) {
			if !c.PaidWebhook.IsZero() {
				t.Errorf("PaidWebhook = %s, want unset", c.PaidWebhook)
			}
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "AP_PAID_WEBHOOK") {
				t.Errorf("warnings = %q, want one about the secret without a URL", c.Warnings)
			}
		}},
		{"confirm auto", map[string]string{"AP_REFUND_CONFIRM": "auto"}, func(t *testing.T, c *Config) {
			if c.RefundConfirm != ConfirmAuto {
				t.Errorf("confirm %q", c.RefundConfirm)
			}
		}},
		{"token", map[string]string{"AP_INVOKE_AUTH_TOKEN": "202501BBxyz"}, func(t *testing.T, c *Config) {
			if c.AppAuthToken != "202501BBxyz" || strings.Contains(c.String(), "202501BBxyz") {
				t.Errorf("token %q, String %s", c.AppAuthToken, c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv(t)
			for k, v := range tt.set {
				e[k] = v
			}
			c, err := Load(env(e))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadLocalNeedsNothing(t *testing.T) {
	c, err := Load(env(map[string]string{"AP_CURRENT_ENV": "local"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Env != Local || c.PrivateKey != nil || c.GatewayURL != "" || len(c.Warnings) != 0 {
		t.Errorf("local config: %s warnings=%v", c, c.Warnings)
	}
	e := validEnv(t)
	e["AP_CURRENT_ENV"] = "LOCAL"
	c, err = Load(env(e))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Warnings) != 3 || !strings.Contains(c.Warnings[0], "AP_APP_ID") {
		t.Errorf("warnings = %q, want one per ignored variable", c.Warnings)
	}
	// The local Alipay's seller is the one expected: AP_SELLER_ID, even a
	// bad one, is set aside with a warning.
	c, err = Load(env(map[string]string{"AP_CURRENT_ENV": "local", "AP_SELLER_ID": "not-a-seller"}))
	if err != nil || c.SellerID != "" || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "AP_SELLER_ID is ignored") {
		t.Errorf("local with AP_SELLER_ID: %v %q %q", err, c.SellerID, c.Warnings)
	}
}

func TestLoadErrors(t *testing.T) {
	k := genKeys(t)
	tests := []struct {
		name string
		set  map[string]string
		want []string // substrings, each must appear
	}{
		{"missing app id", map[string]string{"AP_APP_ID": ""}, []string{"AP_APP_ID: 必填", "required"}},
		{"app id with a key in it", map[string]string{"AP_APP_ID": k.appPriv}, []string{"AP_APP_ID:", "was a key pasted"}},
		{"missing keys", map[string]string{"AP_APP_KEY": "", "AP_PUB_KEY": ""}, []string{"AP_APP_KEY: 必填", "AP_PUB_KEY: 必填", "required"}},
		{"bad key", map[string]string{"AP_APP_KEY": "not-a-key!!"}, []string{"AP_APP_KEY:", "PEM", "base64"}},
		{"public key as app key", map[string]string{"AP_APP_KEY": k.appPub}, []string{"AP_APP_KEY:", "public key, not a private key"}},
		{"private key as alipay key", map[string]string{"AP_PUB_KEY": k.appPriv}, []string{"AP_PUB_KEY:", "private key, not a public key"}},
		{"own public key as alipay key", map[string]string{"AP_PUB_KEY": k.appPub}, []string{"AP_PUB_KEY:", "your own app key"}},
		{"bad algo", map[string]string{"AP_ENCRYPTION_ALGO": "SHA256"}, []string{"AP_ENCRYPTION_ALGO:", "RSA2", "RSA"}},
		{"bad env", map[string]string{"AP_CURRENT_ENV": "production"}, []string{"AP_CURRENT_ENV:", "prod, sandbox or local"}},
		{"bad tools", map[string]string{"AP_SELECT_TOOLS": "mobilePay,payAll"}, []string{"AP_SELECT_TOOLS:", `"payAll"`, "mobilePay", "refundQuery"}},
		{"empty tools", map[string]string{"AP_SELECT_TOOLS": " , "}, []string{"AP_SELECT_TOOLS:", "selects no tool"}},
		{"bad log", map[string]string{"AP_LOG_ENABLED": "maybe"}, []string{"AP_LOG_ENABLED:", "true or false"}},
		{"bad watch", map[string]string{"AP_WATCH_PAYMENTS": "sometimes"}, []string{"AP_WATCH_PAYMENTS:", `"sometimes"`, "true or false"}},
		{"notify with query", map[string]string{"AP_NOTIFY_URL": "https://a.example/n?x=1"}, []string{"AP_NOTIFY_URL:", "query string"}},
		{"relative return", map[string]string{"AP_RETURN_URL": "/ok"}, []string{"AP_RETURN_URL:", "absolute http(s)"}},
		{"long return", map[string]string{"AP_RETURN_URL": "https://a.example/" + strings.Repeat("x", 250)}, []string{"AP_RETURN_URL:", "at most 256"}},
		// 118 characters but 318 bytes: the client counts bytes and would
		// refuse every payment link, so start-up must refuse it.
		{"long return in bytes", map[string]string{"AP_RETURN_URL": "https://a.example/" + strings.Repeat("页", 100)}, []string{"AP_RETURN_URL:", "at most 256"}},
		{"long notify in bytes", map[string]string{"AP_NOTIFY_URL": "https://a.example/" + strings.Repeat("页", 100)}, []string{"AP_NOTIFY_URL:", "at most 256"}},
		{"bad gateway", map[string]string{"AP_GATEWAY_URL": "openapi.alipay.com"}, []string{"AP_GATEWAY_URL:"}},
		{"bad cap", map[string]string{"AP_REFUND_MAX_AMOUNT": "0.001"}, []string{"AP_REFUND_MAX_AMOUNT:"}},
		{"bad confirm", map[string]string{"AP_REFUND_CONFIRM": "ask"}, []string{"AP_REFUND_CONFIRM:", `"ask"`, "auto", "always", "never"}},
		{"confirm as a boolean", map[string]string{"AP_REFUND_CONFIRM": "true"}, []string{"AP_REFUND_CONFIRM:", `"true"`, "auto (default), always or never"}},
		{"seller id too short", map[string]string{"AP_SELLER_ID": "208810217700000"}, []string{"AP_SELLER_ID:", `"208810217700000"`, "2088 开头的 16 位数字", "16 digits starting with 2088"}},
		{"seller id not 2088", map[string]string{"AP_SELLER_ID": "2021000122671080"}, []string{"AP_SELLER_ID:", "16 digits starting with 2088"}},
		{"seller id with a letter", map[string]string{"AP_SELLER_ID": "2088x02177000000"}, []string{"AP_SELLER_ID:", "16 digits starting with 2088"}},
		{"token with space", map[string]string{"AP_INVOKE_AUTH_TOKEN": "a b"}, []string{"AP_INVOKE_AUTH_TOKEN:"}},
		{"relative paid webhook", map[string]string{"AP_PAID_WEBHOOK": "hooks/paid", "AP_PAID_WEBHOOK_SECRET": "0123456789abcdef"}, []string{"AP_PAID_WEBHOOK:", "absolute http(s) URL"}},
		{"paid webhook without secret", map[string]string{"AP_PAID_WEBHOOK": "https://shop.example/hooks/paid"}, []string{"AP_PAID_WEBHOOK_SECRET:", "required", "openssl rand -hex 32"}},
		{"short paid webhook secret", map[string]string{"AP_PAID_WEBHOOK": "https://shop.example/hooks/paid", "AP_PAID_WEBHOOK_SECRET": "hunter2"}, []string{"AP_PAID_WEBHOOK_SECRET:", "at least 16"}},
		{"secret for a wecom bot", map[string]string{"AP_PAID_WEBHOOK": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx", "AP_PAID_WEBHOOK_SECRET": "SECabc"}, []string{"AP_PAID_WEBHOOK_SECRET:", "WeCom", "unset"}},
		{"state key without a database", map[string]string{"AP_STATE_KEY": "short-state-key"}, []string{"AP_STATE_KEY:", "太短", "too short", "15", "at least 32"}},
		{"database without a state key", map[string]string{"AP_DATABASE_URL": "postgres://ledger@db.internal/ledger"}, []string{"AP_STATE_KEY:", "必填", "required when AP_DATABASE_URL is set", "openssl rand -base64 32"}},
		{"database with a short state key", map[string]string{"AP_DATABASE_URL": "postgresql://db/ledger", "AP_STATE_KEY": "0123456789abcdef0123456789abcde"}, []string{"AP_STATE_KEY:", "31", "at least 32"}},
		{"several at once", map[string]string{"AP_APP_ID": "", "AP_CURRENT_ENV": "x", "AP_LOG_ENABLED": "x"},
			[]string{"AP_APP_ID:", "AP_CURRENT_ENV:", "AP_LOG_ENABLED:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv(t)
			for k, v := range tt.set {
				e[k] = v
			}
			c, err := Load(env(e))
			if err == nil {
				t.Fatalf("Load succeeded: %s", c)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if got, want := strings.Count(msg, "\n")+1, len(tt.want); tt.name == "several at once" && got != want {
				t.Errorf("%d lines, want one per bad variable (%d):\n%s", got, want, msg)
			}
			for _, secret := range []string{k.appPriv[40:80], k.appPub[40:80], k.alipayPub[40:80]} {
				if strings.Contains(msg, secret) {
					t.Errorf("error leaks key material: %s", msg)
				}
			}
			for _, line := range strings.Split(msg, "\n") {
				checkBilingual(t, line)
			}
		})
	}
}

// hintRE finds the settings a message suggests, such as AP_CURRENT_ENV=local.
var hintRE = regexp.MustCompile(`AP_[A-Z_]+=[a-z0-9]+`)

// checkBilingual wants "NAME: 中文 / English": Chinese first, then " / "
// and the English, and every setting the Chinese suggests in the English
// too (doctor prints these lines as they are).
func checkBilingual(t *testing.T, line string) {
	t.Helper()
	_, text, _ := strings.Cut(line, ": ")
	zh, en, ok := strings.Cut(text, " / ")
	if !ok || !strings.ContainsFunc(zh, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		t.Errorf("not \"中文 / English\": %s", line)
		return
	}
	for _, h := range hintRE.FindAllString(zh, -1) {
		if !strings.Contains(en, h) {
			t.Errorf("the English omits %s, which the Chinese gives: %s", h, line)
		}
	}
}

// allDefault is what "all" selects: everything but the opt-in closePay.
const allDefault = "create-mobile-alipay-payment,create-web-page-alipay-payment,query-alipay-payment,refund-alipay-payment,query-alipay-refund,create-alipay-qr-payment,wait-alipay-payment,list-alipay-orders"

func TestReadOnlyAndPayTimeout(t *testing.T) {
	for _, tt := range []struct {
		readOnly, timeout string
		wantRO            bool
		wantTimeout       time.Duration
		wantErr           []string
	}{
		{"true", "30m", true, 30 * time.Minute, nil},
		{"YES", "1d", true, 24 * time.Hour, nil},
		{"0", "15d", false, 15 * 24 * time.Hour, nil},
		{"maybe", "", false, 0, []string{"AP_READ_ONLY", "true or false"}},
		{"", "4m", false, 0, []string{"AP_PAY_TIMEOUT", "5m to 15d", "30m"}},
		{"", "16d", false, 0, []string{"AP_PAY_TIMEOUT"}},
		{"", "1.5h", false, 0, []string{"AP_PAY_TIMEOUT"}},
		{"", "90", false, 0, []string{"AP_PAY_TIMEOUT"}},
	} {
		t.Run(tt.readOnly+"/"+tt.timeout, func(t *testing.T) {
			e := validEnv(t)
			e["AP_READ_ONLY"], e["AP_PAY_TIMEOUT"] = tt.readOnly, tt.timeout
			c, err := Load(env(e))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ReadOnly != tt.wantRO || c.PayTimeout != tt.wantTimeout {
				t.Errorf("ReadOnly %t PayTimeout %s", c.ReadOnly, c.PayTimeout)
			}
		})
	}
}

func TestParseSelectTools(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", allDefault},
		{"ALL", allDefault},
		{"closePay", "close-alipay-payment"},
		{"all, closePay", "create-mobile-alipay-payment,create-web-page-alipay-payment,query-alipay-payment,refund-alipay-payment,query-alipay-refund,create-alipay-qr-payment,close-alipay-payment,wait-alipay-payment,list-alipay-orders"},
		{"waitPay,qrPay,queryPay", "query-alipay-payment,create-alipay-qr-payment,wait-alipay-payment"},
		{"refundQuery, mobilePay", "create-mobile-alipay-payment,query-alipay-refund"},
		{" query-alipay-payment ,queryPay,", "query-alipay-payment"},
		{"webpagepay", "create-web-page-alipay-payment"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSelectTools(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestConfigNeverPrintsKeys(t *testing.T) {
	k := genKeys(t)
	e := validEnv(t)
	e["AP_PAID_WEBHOOK"] = "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-hook-id-0001"
	e["AP_PAID_WEBHOOK_SECRET"] = "feishu-secret-0002"
	e["AP_STATE_KEY"] = "state-key-0003-shared-by-every-replica"
	e["AP_DATABASE_URL"] = "postgres://ledger@db.internal/ledger"
	c, err := Load(env(e))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", *c), logged.String()} {
		if !strings.Contains(out, "redacted") {
			t.Errorf("no redaction marker in %q", out)
		}
		if strings.Contains(out, k.appPriv[:60]) || strings.Contains(out, "PrivateKey") && strings.Contains(out, "Primes") {
			t.Errorf("key material printed: %.200s", out)
		}
		if strings.Contains(out, "state-key-0003") || strings.Contains(out, fmt.Sprint([]byte("state-key-0003"))[1:20]) {
			t.Errorf("AP_STATE_KEY printed: %s", out)
		}
		if strings.Contains(out, "feishu-hook-id-0001") || strings.Contains(out, "feishu-secret-0002") {
			t.Errorf("paid webhook token or secret printed: %s", out)
		}
		if !strings.Contains(out, "open.feishu.cn") {
			t.Errorf("paid webhook host not shown: %s", out)
		}
	}
}

// TestStateKey: AP_STATE_KEY is taken when long enough, and required once
// AP_DATABASE_URL names a PostgreSQL database; SQLite needs none.
func TestStateKey(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, db, key string
		want          []byte
	}{
		{"neither", "", "", nil},
		{"key alone", "", key, []byte(key)},
		{"postgres with key", "postgres://ledger@db/ledger", key, []byte(key)},
		{"sqlite path needs none", "/var/lib/ledger.db", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnv(t)
			e["AP_DATABASE_URL"], e["AP_STATE_KEY"] = tc.db, tc.key
			c, err := Load(env(e))
			if err != nil {
				t.Fatal(err)
			}
			if string(c.StateKey) != string(tc.want) {
				t.Fatalf("StateKey = %q, want %q", c.StateKey, tc.want)
			}
		})
	}
}

// A relative AP_LOCAL_DATA_DIR would move with the directory an MCP client
// starts the server in: it is made absolute, and a warning says so.
func TestLocalDataDirMadeAbsolute(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"AP_CURRENT_ENV": "local", "AP_LOCAL_DATA_DIR": "state/local"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := filepath.Join(wd, "state", "local")
	if c.LocalDataDir != want {
		t.Errorf("LocalDataDir = %q, want %q", c.LocalDataDir, want)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], want) || !strings.Contains(c.Warnings[0], "relative") || !strings.Contains(c.Warnings[0], "相对路径") {
		t.Errorf("warnings = %q", c.Warnings)
	}
	c, err = Load(env(map[string]string{"AP_CURRENT_ENV": "local", "AP_LOCAL_DATA_DIR": want}))
	if err != nil || c.LocalDataDir != want || len(c.Warnings) != 0 {
		t.Errorf("absolute: %v %q %q", err, c.LocalDataDir, c.Warnings)
	}
}

func TestLedgerVariables(t *testing.T) {
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	_, err := Load(get(map[string]string{"AP_CURRENT_ENV": "local", "AP_DATABASE_URL": "mysql://u:hunter2@h/db", "AP_REFUND_DAILY_LIMIT": "lots"}))
	if err == nil {
		t.Fatal("bad ledger variables accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "AP_REFUND_DAILY_LIMIT: ") || !strings.HasPrefix(lines[1], "AP_DATABASE_URL: ") {
		t.Fatalf("want one line per bad variable, got %q", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the database password leaked: %q", err)
	}
	c, err := Load(get(map[string]string{"AP_CURRENT_ENV": "local", "AP_DATABASE_URL": "postgres://u:hunter2@db.example:5432/ledger",
		"AP_REFUND_DAILY_LIMIT": "2000.50", "AP_STATE_KEY": strings.Repeat("k", MinStateKey)}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RefundDailyLimit != 200050 || c.DatabaseURL == "" {
		t.Fatalf("RefundDailyLimit %s, DatabaseURL set %t", c.RefundDailyLimit, c.DatabaseURL != "")
	}
	for _, s := range []string{c.String(), fmt.Sprintf("%#v", c), c.DatabaseURLRedacted()} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "postgres://u:xxxxx@db.example:5432/ledger") {
			t.Errorf("%q: want the URL with its password redacted", s)
		}
	}
	// A path is a SQLite file of the operator's choice.
	c, err = Load(get(map[string]string{"AP_CURRENT_ENV": "local", "AP_DATABASE_URL": "/var/lib/alipay/ledger.db"}))
	if err != nil || c.DatabaseURL != "/var/lib/alipay/ledger.db" || c.DatabaseURLRedacted() != c.DatabaseURL {
		t.Fatalf("a SQLite path: %+v, %v", c, err)
	}
}
