package config

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paidhook"
)

// Env is the Alipay environment the server talks to.
type Env string

// The environments AP_CURRENT_ENV accepts.
const (
	Prod    Env = "prod"    // the real Alipay
	Sandbox Env = "sandbox" // the Alipay sandbox
	Local   Env = "local"   // the local Alipay started in-process
)

// Variables lists every variable Load reads, in the order --help shows them.
var Variables = []string{
	"AP_APP_ID", "AP_APP_KEY", "AP_PUB_KEY", "AP_RETURN_URL", "AP_NOTIFY_URL",
	"AP_ENCRYPTION_ALGO", "AP_CURRENT_ENV", "AP_SELECT_TOOLS", "AP_LOG_ENABLED",
	"AP_INVOKE_AUTH_TOKEN", "AP_GATEWAY_URL", "AP_LOCAL_DATA_DIR", "AP_REFUND_MAX_AMOUNT",
	"AP_WATCH_PAYMENTS", "AP_REFUND_CONFIRM", "AP_PAID_WEBHOOK", "AP_PAID_WEBHOOK_SECRET",
	"AP_STATE_KEY", "AP_DATABASE_URL", "AP_REFUND_DAILY_LIMIT", "AP_READ_ONLY", "AP_PAY_TIMEOUT",
	"AP_SELLER_ID",
}

// RefundConfirm says when a refund asks the human first (AP_REFUND_CONFIRM).
type RefundConfirm string

// The values AP_REFUND_CONFIRM accepts.
const (
	// ConfirmAuto asks when the client declares form elicitation and
	// refunds without asking otherwise. The default.
	ConfirmAuto RefundConfirm = "auto"
	// ConfirmAlways asks, and refuses the refund when the client cannot ask.
	ConfirmAlways RefundConfirm = "always"
	// ConfirmNever never asks.
	ConfirmNever RefundConfirm = "never"
)

// Config is a validated configuration. Its String and LogValue methods never
// show key material.
type Config struct {
	Env             Env
	AppID           string          // empty in local mode: the local Alipay supplies it
	PrivateKey      *rsa.PrivateKey // nil in local mode
	AlipayPublicKey *rsa.PublicKey  // nil in local mode
	SignType        alipay.SignType
	GatewayURL      string // resolved gateway; empty in local mode
	ReturnURL       string
	NotifyURL       string
	// SellerID is AP_SELLER_ID: the seller (2088 and 12 digits) Alipay's
	// notifications must name; empty means the first accepted one pins it
	// (and in local mode the local Alipay's is used).
	SellerID     string
	AppAuthToken string   // AP_INVOKE_AUTH_TOKEN, sent as app_auth_token
	Tools        []string // full names of the selected tools, in canonical order
	LogEnabled   bool
	LocalDataDir string        // AP_LOCAL_DATA_DIR; empty means the local Alipay's default
	RefundMax    alipay.Amount // AP_REFUND_MAX_AMOUNT; 0 means no cap
	// RefundDailyLimit is AP_REFUND_DAILY_LIMIT: what all refunds of one
	// Beijing-time day may add up to, for every process sharing the
	// ledger; 0 means no limit.
	RefundDailyLimit alipay.Amount
	// DatabaseURL is AP_DATABASE_URL: a postgres:// URL selects a shared
	// PostgreSQL ledger, a path (made absolute) a SQLite file of the
	// operator's choice; empty means the default SQLite file. Its password
	// is never printed (DatabaseURLRedacted).
	DatabaseURL   string
	WatchPayments bool          // AP_WATCH_PAYMENTS: watch orders with links until paid
	RefundConfirm RefundConfirm // AP_REFUND_CONFIRM: when a refund asks the human first
	// PaidWebhook is AP_PAID_WEBHOOK with AP_PAID_WEBHOOK_SECRET: where the
	// merchant is told that a buyer paid. The zero Target means unset; its
	// String never shows the secret or the token in the URL.
	PaidWebhook paidhook.Target
	ReadOnly    bool          // AP_READ_ONLY: serve only the tools annotated read-only
	PayTimeout  time.Duration // AP_PAY_TIMEOUT: how long a link or QR code stays payable
	// StateKey is AP_STATE_KEY: the key refund confirmation states are
	// sealed under, shared by every replica on one database; nil means a
	// random key per process. It is a secret: never logged or shown.
	StateKey []byte
	// Warnings are harmless oddities worth a line on stderr, such as keys
	// that local mode ignores.
	Warnings []string
}

// Load reads the AP_* variables through getenv (os.Getenv in production) and
// returns every problem at once, one line per variable, joined with
// errors.Join.
func Load(getenv func(string) string) (*Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c := &Config{}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	switch v := strings.ToLower(get("AP_CURRENT_ENV")); v {
	case "", "prod":
		c.Env = Prod
	case "sandbox":
		c.Env = Sandbox
	case "local":
		c.Env = Local
	default:
		bad("AP_CURRENT_ENV", "%q 无效, 只能是 prod、sandbox 或 local (本地支付宝, 无需账号) / is not allowed; use prod, sandbox or local (the local Alipay, no account needed)", short(get("AP_CURRENT_ENV")))
	}

	st, err := alipay.ParseSignType(get("AP_ENCRYPTION_ALGO"))
	if err != nil {
		bad("AP_ENCRYPTION_ALGO", "%q 无效, 签名方式只能是 RSA2 (默认) 或 RSA / is not allowed; use RSA2 (default) or RSA", short(get("AP_ENCRYPTION_ALGO")))
	}
	c.SignType = st

	if c.Env == Local {
		for _, name := range []string{"AP_APP_ID", "AP_APP_KEY", "AP_PUB_KEY", "AP_GATEWAY_URL"} {
			if get(name) != "" {
				c.Warnings = append(c.Warnings, fmt.Sprintf("本地模式 (AP_CURRENT_ENV=local) 忽略 %s: 本地支付宝使用自己的应用和密钥 / %s is ignored when AP_CURRENT_ENV=local: the local Alipay uses its own app and keys", name, name))
			}
		}
	} else {
		errs = append(errs, c.loadKeys(get)...)
		c.GatewayURL = alipay.ProdGateway
		if c.Env == Sandbox {
			c.GatewayURL = alipay.SandboxGateway
		}
		if v := get("AP_GATEWAY_URL"); v != "" {
			if msg := checkURL(v, false); msg != "" {
				bad("AP_GATEWAY_URL", "%s", msg)
			}
			c.GatewayURL = v
		}
	}

	c.ReturnURL = get("AP_RETURN_URL")
	if c.ReturnURL != "" {
		if msg := checkURL(c.ReturnURL, false); msg != "" {
			bad("AP_RETURN_URL", "%s", msg)
		}
	}
	c.NotifyURL = get("AP_NOTIFY_URL")
	if c.NotifyURL != "" {
		if msg := checkURL(c.NotifyURL, true); msg != "" {
			bad("AP_NOTIFY_URL", "%s", msg)
		}
	}

	if v := get("AP_SELLER_ID"); v != "" {
		switch {
		case c.Env == Local:
			c.Warnings = append(c.Warnings, "本地模式 (AP_CURRENT_ENV=local) 忽略 AP_SELLER_ID: 使用本地支付宝的卖家 ID / AP_SELLER_ID is ignored when AP_CURRENT_ENV=local: the local Alipay's seller id is used")
		case !ValidSellerID(v):
			bad("AP_SELLER_ID", "%q 无效, 卖家 ID (商户 PID, 支付宝用户号) 是 2088 开头的 16 位数字 / is not allowed; the seller id (the merchant's PID, an Alipay user id) is 16 digits starting with 2088", short(v))
		default:
			c.SellerID = v
		}
	}

	tools, err := ParseSelectTools(get("AP_SELECT_TOOLS"))
	if err != nil {
		errs = append(errs, err)
	}
	c.Tools = tools

	for _, b := range []struct {
		name string
		to   *bool
	}{{"AP_LOG_ENABLED", &c.LogEnabled}, {"AP_WATCH_PAYMENTS", &c.WatchPayments}} {
		switch strings.ToLower(get(b.name)) {
		case "", "true", "1", "yes", "on":
			*b.to = true
		case "false", "0", "no", "off":
			*b.to = false
		default:
			bad(b.name, "%q 无效, 只能是 true 或 false (也可写 1/0/yes/no) / is not allowed; use true or false (1/0/yes/no also work)", short(get(b.name)))
		}
	}

	switch strings.ToLower(get("AP_READ_ONLY")) {
	case "", "false", "0", "no", "off":
	case "true", "1", "yes", "on":
		c.ReadOnly = true
	default:
		bad("AP_READ_ONLY", "%q 无效, 只能是 true 或 false (也可写 1/0/yes/no) / is not allowed; use true or false (1/0/yes/no also work)", short(get("AP_READ_ONLY")))
	}

	c.PayTimeout = DefaultPayTimeout
	if v := get("AP_PAY_TIMEOUT"); v != "" {
		d, ok := ParsePayTimeout(v)
		if !ok {
			bad("AP_PAY_TIMEOUT", "%q 无效, 支付有效期格式如 30m、2h、1d, 范围 5m 至 15d / is not allowed; use whole minutes, hours or days such as 30m, 2h or 1d, from 5m to 15d", short(v))
		}
		c.PayTimeout = d
	}

	c.AppAuthToken = get("AP_INVOKE_AUTH_TOKEN")
	if strings.ContainsAny(c.AppAuthToken, " \t\r\n") {
		bad("AP_INVOKE_AUTH_TOKEN", "app_auth_token 不能包含空白 / must be a single token without spaces")
	}
	c.LocalDataDir = get("AP_LOCAL_DATA_DIR")
	if c.LocalDataDir != "" && !filepath.IsAbs(c.LocalDataDir) {
		// An MCP client starts the server in a directory of its choosing:
		// a relative path would move with it. Resolve it once, and say so.
		abs, err := filepath.Abs(c.LocalDataDir)
		if err != nil {
			bad("AP_LOCAL_DATA_DIR", "%q 是相对路径, 且无法确定当前目录, 请使用绝对路径 / is relative and the current directory is unknown; use an absolute path", short(c.LocalDataDir))
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("AP_LOCAL_DATA_DIR %q 是相对路径, 已按当前目录解析为 %s; 建议使用绝对路径 / "+
				"AP_LOCAL_DATA_DIR %q is relative; resolved against the current directory to %s. Use an absolute path.", c.LocalDataDir, abs, c.LocalDataDir, abs))
			c.LocalDataDir = abs
		}
	}

	if v := get("AP_REFUND_MAX_AMOUNT"); v != "" {
		a, err := alipay.ParseAmount(v)
		if err != nil {
			bad("AP_REFUND_MAX_AMOUNT", "%q 无效, 单笔退款上限必须是 0.01 至 100000000 元、最多两位小数的金额, 如 500 或 99.50 / is not an amount in yuan between 0.01 and 100000000 with at most two decimals, e.g. 500 or 99.50", short(v))
		}
		c.RefundMax = a
	}

	if v := get("AP_REFUND_DAILY_LIMIT"); v != "" {
		a, err := alipay.ParseAmount(v)
		if err != nil {
			bad("AP_REFUND_DAILY_LIMIT", "%q 无效, 每日退款上限必须是 0.01 至 100000000 元、最多两位小数的金额, 如 2000 / is not an amount in yuan between 0.01 and 100000000 with at most two decimals, e.g. 2000", short(v))
		}
		c.RefundDailyLimit = a
	}

	if v := get("AP_DATABASE_URL"); v != "" {
		lower := strings.ToLower(v)
		switch {
		case strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://"):
			if u, err := url.Parse(v); err != nil || u.Host == "" && u.Query().Get("host") == "" {
				// Not quoted: the value may hold a password.
				bad("AP_DATABASE_URL", "PostgreSQL 地址格式不正确 (值未显示), 应如 postgres://user:password@host:5432/dbname / not a valid PostgreSQL URL such as postgres://user:password@host:5432/dbname (value not shown)")
			}
		case strings.Contains(v, "://"):
			bad("AP_DATABASE_URL", "只能是 postgres:// 地址或 SQLite 文件路径 (值未显示); 不设置则使用默认账本文件 / only PostgreSQL (postgres://user:password@host:5432/dbname) or the path of a SQLite file is allowed (value not shown); leave it unset for the default SQLite ledger file")
		default:
			// A path: the SQLite ledger file there instead of the default.
			if abs, err := filepath.Abs(v); err == nil {
				v = abs
			}
		}
		c.DatabaseURL = v
	}

	switch v := strings.ToLower(get("AP_REFUND_CONFIRM")); v {
	case "", string(ConfirmAuto):
		c.RefundConfirm = ConfirmAuto
	case string(ConfirmAlways), string(ConfirmNever):
		c.RefundConfirm = RefundConfirm(v)
	default:
		bad("AP_REFUND_CONFIRM", "%q 无效, 退款确认只能是 auto (默认)、always 或 never / is not allowed; use auto (default), always or never", short(get("AP_REFUND_CONFIRM")))
	}

	if v := get("AP_PAID_WEBHOOK"); v != "" {
		t, err := paidhook.ParseTarget(v, get("AP_PAID_WEBHOOK_SECRET"))
		if err != nil {
			errs = append(errs, err)
		}
		c.PaidWebhook = t
	} else if get("AP_PAID_WEBHOOK_SECRET") != "" {
		c.Warnings = append(c.Warnings, "AP_PAID_WEBHOOK_SECRET 已设置但 AP_PAID_WEBHOOK 未设置, 不会发送付款通知 / AP_PAID_WEBHOOK_SECRET is set but AP_PAID_WEBHOOK is not: no paid notification is sent")
	}

	if err := loadStateKey(c, get("AP_STATE_KEY"), get("AP_DATABASE_URL")); err != nil {
		errs = append(errs, err)
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// ValidSellerID reports whether s is a seller id as Alipay writes it: 2088
// and 12 more digits.
func ValidSellerID(s string) bool {
	if len(s) != 16 || !strings.HasPrefix(s, "2088") {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// MinStateKey is the shortest AP_STATE_KEY accepted: 32 characters, as
// "openssl rand -base64 32" prints 44.
const MinStateKey = 32

// loadStateKey reads AP_STATE_KEY. Several replicas on one PostgreSQL
// database (AP_DATABASE_URL) must seal refund confirmations under one key,
// or a confirmation asked by one replica is refused by the next, so the key
// is required then. Errors never quote the key.
func loadStateKey(c *Config, key, databaseURL string) error {
	shared := strings.HasPrefix(strings.ToLower(databaseURL), "postgres://") || strings.HasPrefix(strings.ToLower(databaseURL), "postgresql://")
	switch {
	case key == "" && shared:
		return errors.New("AP_STATE_KEY: 设置了 AP_DATABASE_URL (多个副本共用数据库) 时必填, 所有副本用同一个至少 32 个字符的密钥, 例如 openssl rand -base64 32 的输出 / " +
			"required when AP_DATABASE_URL is set (replicas sharing a database): the same key of at least 32 characters on every replica, e.g. the output of openssl rand -base64 32")
	case key == "":
		return nil
	case len(key) < MinStateKey:
		return fmt.Errorf("AP_STATE_KEY: 太短 (%d 个字符, 值未显示), 至少需要 %d 个字符, 例如 openssl rand -base64 32 的输出 / "+
			"too short (%d characters, value not shown): at least %d characters are required, e.g. the output of openssl rand -base64 32",
			len(key), MinStateKey, len(key), MinStateKey)
	}
	c.StateKey = []byte(key)
	return nil
}

// DefaultPayTimeout is AP_PAY_TIMEOUT when unset: a day. A buyer may pay
// next morning (a shorter expiry silently loses that payment and burns the
// outTradeNo), yet an order the merchant closes before its link is opened
// must not stay payable for Alipay's 15 days.
const DefaultPayTimeout = 24 * time.Hour

// ParsePayTimeout reads an AP_PAY_TIMEOUT value: a whole number of minutes,
// hours or days (30m, 2h, 1d) from 5m (the least a mobile link allows) to
// 15d (the most Alipay allows).
func ParsePayTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 1 || v[0] == '+' || v[0] == '0' {
		return 0, false
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[v[len(v)-1]]
	d := time.Duration(n) * unit
	if unit == 0 || d < 5*time.Minute || d > 15*24*time.Hour {
		return 0, false
	}
	return d, true
}

// loadKeys parses AP_APP_ID, AP_APP_KEY and AP_PUB_KEY. Key errors come from
// the alipay package: bilingual, naming the variable, never quoting the key.
func (c *Config) loadKeys(get func(string) string) []error {
	var errs []error
	c.AppID = get("AP_APP_ID")
	if c.AppID == "" {
		errs = append(errs, errors.New("AP_APP_ID: 必填: 开放平台 (open.alipay.com) 上应用的 APPID, 如 2021000000000000; 不想配置时可设 AP_CURRENT_ENV=local 试用本地支付宝 / "+
			"required: the APPID of your app on open.alipay.com, e.g. 2021000000000000; to try without an account, set AP_CURRENT_ENV=local for the local Alipay"))
	} else if len(c.AppID) > 32 {
		// Not quoted: a key pasted into the wrong variable must not be echoed.
		errs = append(errs, fmt.Errorf("AP_APP_ID: 长 %d 个字符, 但 APPID 是 16 位左右的数字, 如 2021000000000000; 是否误粘贴了密钥? (值未显示) / "+
			"%d characters long, but an APPID is a number of about 16 digits, e.g. 2021000000000000; was a key pasted here? (value not shown)", len(c.AppID), len(c.AppID)))
	} else if !isAlnum(c.AppID) {
		errs = append(errs, fmt.Errorf("AP_APP_ID: %q 不是支付宝 APPID, APPID 是 16 位左右的数字, 如 2021000000000000 / is not an Alipay APPID; it is a number of about 16 digits, e.g. 2021000000000000", c.AppID))
	}
	if v := get("AP_APP_KEY"); v == "" {
		errs = append(errs, errors.New("AP_APP_KEY: 必填: 应用私钥, PKCS#1 或 PKCS#8, PEM 或一行 base64; 不想配置时可设 AP_CURRENT_ENV=local / "+
			"required: your app private key, PKCS#1 or PKCS#8, PEM or one-line base64; to try without an account, set AP_CURRENT_ENV=local"))
	} else if k, err := alipay.ParsePrivateKey("AP_APP_KEY", v); err != nil {
		errs = append(errs, err)
	} else {
		c.PrivateKey = k
	}
	if v := get("AP_PUB_KEY"); v == "" {
		errs = append(errs, errors.New("AP_PUB_KEY: 必填: 开放平台上与应用密钥并列显示的「支付宝公钥」, 不是应用公钥; 不想配置时可设 AP_CURRENT_ENV=local / "+
			"required: the Alipay public key shown in the portal next to your app key, not your app public key; to try without an account, set AP_CURRENT_ENV=local"))
	} else if k, err := alipay.ParsePublicKey("AP_PUB_KEY", v); err != nil {
		errs = append(errs, err)
	} else {
		c.AlipayPublicKey = k
	}
	if err := alipay.CheckKeyPair("AP_PUB_KEY", c.PrivateKey, c.AlipayPublicKey); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// ParseSelectTools turns an AP_SELECT_TOOLS value into full tool names in
// canonical order. Empty or "all" selects every tool but the opt-in ones
// (closePay); otherwise a comma list of short or full names, "all" among
// them ("all,closePay" is everything), spaces and case tolerated.
func ParseSelectTools(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	chosen := map[string]bool{}
	addAll := func() {
		for _, t := range ToolNames {
			if !t.OptIn {
				chosen[t.Full] = true
			}
		}
	}
	if v == "" {
		v = "all"
	}
	var unknown []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.EqualFold(item, "all") {
			addAll()
			continue
		}
		found := false
		for _, t := range ToolNames {
			if strings.EqualFold(item, t.Short) || strings.EqualFold(item, t.Full) {
				chosen[t.Full] = true
				found = true
			}
		}
		if !found {
			unknown = append(unknown, quote(item))
		}
	}
	valid := make([]string, 0, len(ToolNames))
	for _, t := range ToolNames {
		valid = append(valid, t.Short+" ("+t.Full+")")
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("AP_SELECT_TOOLS: 未知的工具名称 %s; 请用 all 或逗号分隔的 / unknown tool %s; use all, or a comma list of: %s",
			strings.Join(unknown, ", "), strings.Join(unknown, ", "), strings.Join(valid, ", "))
	}
	if len(chosen) == 0 {
		return nil, fmt.Errorf("AP_SELECT_TOOLS: %q 未选择任何工具; 请用 all 或逗号分隔的 / selects no tool; use all, or a comma list of: %s",
			short(v), strings.Join(valid, ", "))
	}
	var out []string
	for _, t := range ToolNames {
		if chosen[t.Full] {
			out = append(out, t.Full)
		}
	}
	return out, nil
}

// checkURL returns "" when s is an absolute http(s) URL Alipay accepts, or a
// bilingual explanation. Notify URLs may not carry a query string. Length
// is counted in bytes, as alipay.CheckURL counts it when a link is signed.
func checkURL(s string, noQuery bool) string {
	if len(s) > 256 {
		return fmt.Sprintf("%d 字节, 最长 256 字节, 中文字符每个占 3 字节 / %d bytes, at most 256 allowed; a non-ASCII character takes 2-4 bytes", len(s), len(s))
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q 必须是 http 或 https 开头的完整网址, 如 https://example.com/alipay / is not an absolute http(s) URL such as https://example.com/alipay", short(s))
	}
	if noQuery && (u.RawQuery != "" || strings.Contains(s, "?")) {
		return fmt.Sprintf("%q 带有参数, 支付宝不允许异步通知地址 notify_url 带参数 / has a query string; Alipay does not allow parameters in notify_url", short(s))
	}
	return ""
}

func isAlnum(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// short cuts a value for an error message. It is never used on keys.
func short(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		return string([]rune(s)[:60]) + "…"
	}
	return s
}

func quote(s string) string { return fmt.Sprintf("%q", short(s)) }

// String describes the configuration without key material.
func (c Config) String() string {
	return fmt.Sprintf("Config{Env:%s AppID:%s AppKey:%s PubKey:%s SignType:%s Gateway:%s ReturnURL:%s NotifyURL:%s AppAuthToken:%s Tools:%v LogEnabled:%t LocalDataDir:%s RefundMax:%s WatchPayments:%t RefundConfirm:%s PaidWebhook:%s ReadOnly:%t PayTimeout:%s StateKey:%s RefundDailyLimit:%s Database:%s}",
		c.Env, c.AppID, redacted(c.PrivateKey != nil), redacted(c.AlipayPublicKey != nil), c.SignType, c.GatewayURL,
		c.ReturnURL, c.NotifyURL, redacted(c.AppAuthToken != ""), c.Tools, c.LogEnabled, c.LocalDataDir, c.refundMaxText(), c.WatchPayments, c.RefundConfirm, c.PaidWebhook, c.ReadOnly, c.PayTimeout, redacted(len(c.StateKey) > 0),
		c.dailyLimitText(), c.DatabaseURLRedacted())
}

// GoString keeps %#v from printing the keys.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the keys.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("env", string(c.Env)),
		slog.String("app_id", c.AppID),
		slog.String("app_key", redacted(c.PrivateKey != nil)),
		slog.String("pub_key", redacted(c.AlipayPublicKey != nil)),
		slog.String("sign_type", string(c.SignType)),
		slog.String("gateway", c.GatewayURL),
		slog.Any("tools", c.Tools),
		slog.Bool("log_enabled", c.LogEnabled),
		slog.String("refund_max", c.refundMaxText()),
		slog.Bool("watch_payments", c.WatchPayments),
		slog.String("refund_confirm", string(c.RefundConfirm)),
		slog.String("paid_webhook", c.PaidWebhook.String()),
		slog.Bool("read_only", c.ReadOnly),
		slog.Duration("pay_timeout", c.PayTimeout),
		slog.String("state_key", redacted(len(c.StateKey) > 0)),
		slog.String("refund_daily_limit", c.dailyLimitText()),
		slog.String("database", c.DatabaseURLRedacted()),
	)
}

func (c Config) dailyLimitText() string {
	if c.RefundDailyLimit == 0 {
		return "none"
	}
	return c.RefundDailyLimit.String()
}

// DatabaseURLRedacted is AP_DATABASE_URL with its password hidden, or
// "sqlite" when it is unset, or the SQLite file it names.
func (c Config) DatabaseURLRedacted() string {
	if c.DatabaseURL == "" {
		return "sqlite"
	}
	if !strings.Contains(c.DatabaseURL, "://") {
		return c.DatabaseURL
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "[set, unparsable, not shown]"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (c Config) refundMaxText() string {
	if c.RefundMax == 0 {
		return "none"
	}
	return c.RefundMax.String()
}

func redacted(set bool) string {
	if set {
		return "[set, redacted]"
	}
	return "[unset]"
}
