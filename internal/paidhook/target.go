package paidhook

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Kind is the kind of receiver AP_PAID_WEBHOOK points at, told from its
// host and path.
type Kind string

// The receivers the sender knows.
const (
	// Generic is any other HTTP(S) endpoint: it gets the event JSON, signed
	// with HMAC-SHA256 in the X-Alipay-MCP-Signature header.
	Generic Kind = "webhook"
	// DingTalk is a DingTalk (钉钉) custom group bot:
	// https://oapi.dingtalk.com/robot/send?access_token=…
	DingTalk Kind = "dingtalk"
	// WeCom is a WeCom (企业微信) group bot:
	// https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…
	WeCom Kind = "wecom"
	// Feishu is a Feishu (飞书) or Lark custom bot:
	// https://open.feishu.cn/open-apis/bot/v2/hook/… or
	// https://open.larksuite.com/open-apis/bot/v2/hook/…
	Feishu Kind = "feishu"
)

// MinSecretLen is the shortest AP_PAID_WEBHOOK_SECRET accepted for a generic
// endpoint: shorter HMAC keys are guessable.
const MinSecretLen = 16

// ErrConfig matches (errors.Is) every error of ParseTarget.
var ErrConfig = errors.New("付款通知配置无效 / invalid paid webhook configuration")

// configError is one line naming the variable, as config.Load reports it.
type configError string

func (e configError) Error() string        { return string(e) }
func (e configError) Is(target error) bool { return target == ErrConfig }

func configErr(format string, args ...any) error { return configError(fmt.Sprintf(format, args...)) }

// Target is a validated AP_PAID_WEBHOOK with its secret. Its String method
// shows the URL with the credentials in it (DingTalk access_token, WeCom
// key, Feishu hook id, anything in a generic URL's path or query) replaced
// by ***, and never the secret.
type Target struct {
	u      *url.URL
	kind   Kind
	secret string
}

// ParseTarget validates AP_PAID_WEBHOOK and AP_PAID_WEBHOOK_SECRET. The URL
// must be absolute http(s); a generic endpoint needs a secret of at least
// MinSecretLen characters, so its receiver can tell our events from forged
// ones. A bot's secret is its own signing secret (DingTalk 加签, Feishu
// 签名校验) and is optional; WeCom bots have no signature, so a secret there
// is refused rather than silently ignored. Errors name the variable, are
// Chinese first, then English, and never quote the URL or the secret.
func ParseTarget(rawURL, secret string) (Target, error) {
	rawURL = strings.TrimSpace(rawURL)
	secret = strings.TrimSpace(secret)
	if rawURL == "" {
		return Target{}, configErr("AP_PAID_WEBHOOK: 未设置 / not set")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		// The value is not quoted: it may hold a bot's token.
		return Target{}, configErr("AP_PAID_WEBHOOK: 必须是 http:// 或 https:// 开头的完整网址 (值未显示) / must be an absolute http(s) URL such as https://example.com/hooks/alipay-paid (value not shown)")
	}
	if len(rawURL) > 2048 {
		return Target{}, configErr("AP_PAID_WEBHOOK: %d 字节, 最长 2048 / %d bytes long, at most 2048 allowed", len(rawURL), len(rawURL))
	}
	if u.User != nil {
		return Target{}, configErr("AP_PAID_WEBHOOK: 网址不能包含用户名或密码, 请用 AP_PAID_WEBHOOK_SECRET 签名 / must not carry a user or password; the events are signed with AP_PAID_WEBHOOK_SECRET instead")
	}
	u.Fragment, u.RawFragment = "", ""
	t := Target{u: u, kind: kindOf(u), secret: secret}
	if strings.ContainsAny(secret, " \t\r\n") {
		return Target{}, configErr("AP_PAID_WEBHOOK_SECRET: 不能包含空白 (值未显示) / must not contain spaces or line breaks (value not shown)")
	}
	switch t.kind {
	case Generic:
		if secret == "" {
			return Target{}, configErr("AP_PAID_WEBHOOK_SECRET: 通用 webhook 必须设置签名密钥, 接收方据此确认通知来自本服务; 例如用 openssl rand -hex 32 生成 / required when AP_PAID_WEBHOOK is not a DingTalk, WeCom or Feishu bot: the receiver checks the signature with it; generate one with: openssl rand -hex 32")
		}
		if len(secret) < MinSecretLen {
			return Target{}, configErr("AP_PAID_WEBHOOK_SECRET: 只有 %d 个字符, 至少需要 %d 个; 例如用 openssl rand -hex 32 生成 / only %d characters long, at least %d needed; generate one with: openssl rand -hex 32", len(secret), MinSecretLen, len(secret), MinSecretLen)
		}
	case WeCom:
		if secret != "" {
			return Target{}, configErr("AP_PAID_WEBHOOK_SECRET: 企业微信群机器人没有签名, 凭据是网址里的 key; 请删除此变量 / WeCom group bots have no signature (the key in the URL is the credential); unset this variable")
		}
	case DingTalk:
		if u.Query().Get("access_token") == "" {
			return Target{}, configErr("AP_PAID_WEBHOOK: 钉钉机器人网址缺少 access_token; 请复制机器人设置里的完整 Webhook / the DingTalk bot URL has no access_token; copy the whole Webhook from the bot's settings")
		}
	}
	if t.kind == WeCom && u.Query().Get("key") == "" {
		return Target{}, configErr("AP_PAID_WEBHOOK: 企业微信机器人网址缺少 key; 请复制机器人的完整 Webhook 地址 / the WeCom bot URL has no key; copy the bot's whole Webhook address")
	}
	return t, nil
}

// kindOf tells a bot URL from a generic one by host and path.
func kindOf(u *url.URL) Kind {
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "oapi.dingtalk.com" && u.Path == "/robot/send":
		return DingTalk
	case host == "qyapi.weixin.qq.com" && u.Path == "/cgi-bin/webhook/send":
		return WeCom
	case (host == "open.feishu.cn" || host == "open.larksuite.com") &&
		strings.HasPrefix(u.Path, feishuHookPrefix) && len(u.Path) > len(feishuHookPrefix):
		return Feishu
	}
	return Generic
}

const feishuHookPrefix = "/open-apis/bot/v2/hook/"

// Kind is the receiver's kind.
func (t Target) Kind() Kind { return t.kind }

// IsZero reports whether t is the zero Target (no webhook configured).
func (t Target) IsZero() bool { return t.u == nil }

// Signed reports whether deliveries carry a signature: always for a generic
// endpoint, and for DingTalk and Feishu when a secret is set.
func (t Target) Signed() bool { return t.secret != "" }

// String is the URL with its credentials replaced by ***.
func (t Target) String() string {
	if t.u == nil {
		return "[unset]"
	}
	return redactURL(t.u, t.kind)
}

// GoString keeps %#v from printing the secret.
func (t Target) GoString() string { return "paidhook.Target{" + t.String() + "}" }

// redactURL shows where events go without the credentials: the bots' tokens
// become ***, and a generic URL keeps only its scheme and host, since any
// path segment or query value may be a token (many services put one there).
func redactURL(u *url.URL, k Kind) string {
	base := u.Scheme + "://" + u.Host
	switch k {
	case DingTalk:
		return base + u.Path + "?access_token=***"
	case WeCom:
		return base + u.Path + "?key=***"
	case Feishu:
		return base + feishuHookPrefix + "***"
	}
	s := base
	if u.Path != "" && u.Path != "/" {
		s += "/***"
	}
	if u.RawQuery != "" {
		s += "?***"
	}
	return s
}

// scrub removes from s everything secret about t: the secret, the URL, and
// the token in it. It is applied to every error and log text that might
// carry what a server or the network layer echoed back.
func (t Target) scrub(s string) string {
	if t.u == nil {
		return s
	}
	var olds []string
	add := func(v string) {
		if len(v) >= 4 {
			olds = append(olds, v, url.QueryEscape(v))
		}
	}
	add(t.secret)
	full := t.u.String()
	s = strings.ReplaceAll(s, full, t.String())
	for _, v := range t.u.Query() {
		for _, x := range v {
			add(x)
		}
	}
	if t.kind != Generic || t.u.Path != "" {
		for _, seg := range strings.Split(t.u.Path, "/") {
			if t.kind == Generic || t.kind == Feishu {
				add(seg)
			}
		}
	}
	for _, o := range olds {
		if o != "" && !genericWord(o) {
			s = strings.ReplaceAll(s, o, "***")
		}
	}
	// A DingTalk or Feishu sign is a credential for an hour.
	s = querySecret.ReplaceAllString(s, "$1=***")
	return jsonSign.ReplaceAllString(s, `"sign":"***"`)
}

var (
	querySecret = regexp.MustCompile(`\b(sign|access_token|key)=[^&\s"'*]+`)
	jsonSign    = regexp.MustCompile(`"sign"\s*:\s*"[^"]*"`)
)

// genericWord spares path segments such as "open-apis" or "hook" that are
// part of every URL of a kind and carry no secret.
func genericWord(s string) bool {
	switch s {
	case "open-apis", "bot", "v2", "hook", "robot", "send", "cgi-bin", "webhook":
		return true
	}
	return false
}
