package httpserve

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// DefaultListen is where `mcp-server-alipay http` listens by default.
const DefaultListen = "127.0.0.1:8848"

// Default rate limit per caller at /mcp.
const (
	DefaultRateLimit = 50 // requests per second
	DefaultRateBurst = 100
)

// Variables lists the variables FromEnv reads, with what each takes, for
// help texts.
var Variables = [][2]string{
	{"AP_HTTP_LISTEN", "监听地址, 默认 " + DefaultListen + " / listen address, default " + DefaultListen},
	{"AP_HTTP_PUBLIC_URL", "客户端访问本服务的基础 URL, 如 https://mcp.example.com / this server's base URL as clients see it"},
	{"AP_HTTP_TOKENS", "静态令牌 / static tokens: NAME:SCOPES:SECRET[;…], SCOPES ⊆ read,pay,refund|all; SECRET 或 / or sha256:<hex>"},
	{"AP_HTTP_TOKENS_FILE", "令牌文件, 每行一个, 格式同上 / token file, one per line, same format"},
	{"AP_HTTP_OAUTH_ISSUER", "OAuth 签发方 (issuer) URL; 设置后接受其签发的 JWT 访问令牌 / accept JWT access tokens from this issuer"},
	{"AP_HTTP_OAUTH_JWKS_URL", "签发方 JWKS 地址; 默认从签发方元数据读取 / the issuer's JWKS URL; default: from its metadata"},
	{"AP_HTTP_OAUTH_SCOPES", "令牌权限名映射 / scope names: read=…,pay=…,refund=… (默认 / default alipay:read, alipay:pay, alipay:refund)"},
	{"AP_HTTP_ALLOWED_HOSTS", "额外允许的 Host, 逗号分隔; * 为任意 / extra allowed Host names, comma list; * for any"},
	{"AP_HTTP_ALLOWED_ORIGINS", "允许跨源访问的浏览器来源 / browser origins allowed cross-origin: https://app.example.com,…"},
	{"AP_HTTP_RATE_LIMIT", "每个令牌每秒的请求速率 RATE[:BURST], 默认 50:100, 0 关闭 / requests per token per second, RATE[:BURST], default 50:100, 0 off"},
	{"AP_HTTP_REPLICA", "副本名 (多副本时), 作为会话 ID 前缀供代理按会话路由 / this replica's name, prefixed to session ids so a proxy can route sessions"},
	{"AP_HTTP_TLS_CERT", "TLS 证书文件 (同 --tls-cert) / TLS certificate file"},
	{"AP_HTTP_TLS_KEY", "TLS 私钥文件 (同 --tls-key) / TLS key file"},
}

// FromEnv reads the AP_HTTP_* variables into Options (Server, Routes, Ready
// and Metrics are the caller's). Every problem is reported, one per line,
// naming the variable and what it accepts; secrets are never quoted.
func FromEnv(getenv func(string) string) (Options, error) {
	o := Options{Listen: DefaultListen, RateLimit: DefaultRateLimit, RateBurst: DefaultRateBurst}
	var errs []error
	if v := strings.TrimSpace(getenv("AP_HTTP_LISTEN")); v != "" {
		o.Listen = v
	}
	o.PublicURL = strings.TrimSpace(getenv("AP_HTTP_PUBLIC_URL"))
	if v := getenv("AP_HTTP_TOKENS"); strings.TrimSpace(v) != "" {
		toks, err := ParseTokens(v, "AP_HTTP_TOKENS")
		errs = append(errs, err)
		o.Tokens = append(o.Tokens, toks...)
	}
	if path := strings.TrimSpace(getenv("AP_HTTP_TOKENS_FILE")); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("AP_HTTP_TOKENS_FILE: 无法读取 / cannot read %s: %w", path, err))
		} else {
			toks, err := ParseTokens(string(b), "AP_HTTP_TOKENS_FILE "+path)
			errs = append(errs, err)
			for _, t := range toks {
				for _, o2 := range o.Tokens {
					if o2.Name == t.Name {
						errs = append(errs, fmt.Errorf("AP_HTTP_TOKENS_FILE: 令牌名 %q 与 AP_HTTP_TOKENS 重复 / token name %q is also in AP_HTTP_TOKENS", t.Name, t.Name))
					}
				}
			}
			o.Tokens = append(o.Tokens, toks...)
		}
	}
	if iss := strings.TrimSpace(getenv("AP_HTTP_OAUTH_ISSUER")); iss != "" {
		oa := &OAuth{Issuer: iss, JWKSURL: strings.TrimSpace(getenv("AP_HTTP_OAUTH_JWKS_URL"))}
		if v := strings.TrimSpace(getenv("AP_HTTP_OAUTH_SCOPES")); v != "" {
			oa.ScopeNames = map[tools.Scope]string{}
			for _, kv := range strings.Split(v, ",") {
				k, name, ok := strings.Cut(strings.TrimSpace(kv), "=")
				s := tools.Scope(strings.TrimSpace(k))
				name = strings.TrimSpace(name)
				if !ok || name == "" || (s != tools.ScopeRead && s != tools.ScopePay && s != tools.ScopeRefund) {
					errs = append(errs, fmt.Errorf("AP_HTTP_OAUTH_SCOPES: %q 应为 read=NAME、pay=NAME 或 refund=NAME / want read=NAME, pay=NAME or refund=NAME", kv))
					continue
				}
				oa.ScopeNames[s] = name
			}
		}
		o.OAuth = oa
	} else if getenv("AP_HTTP_OAUTH_JWKS_URL") != "" || getenv("AP_HTTP_OAUTH_SCOPES") != "" {
		errs = append(errs, errors.New("AP_HTTP_OAUTH_JWKS_URL / AP_HTTP_OAUTH_SCOPES 需要 AP_HTTP_OAUTH_ISSUER / need AP_HTTP_OAUTH_ISSUER"))
	}
	o.AllowedHosts = commaList(getenv("AP_HTTP_ALLOWED_HOSTS"))
	o.AllowedOrigins = commaList(getenv("AP_HTTP_ALLOWED_ORIGINS"))
	if v := strings.TrimSpace(getenv("AP_HTTP_RATE_LIMIT")); v != "" {
		r, b, err := parseRate(v)
		if err != nil {
			errs = append(errs, err)
		}
		o.RateLimit, o.RateBurst = r, b
	}
	if v := strings.TrimSpace(getenv("AP_HTTP_REPLICA")); v != "" {
		if err := checkReplica(v); err != nil {
			errs = append(errs, err)
		}
		o.Replica = v
	}
	o.TLSCert = strings.TrimSpace(getenv("AP_HTTP_TLS_CERT"))
	o.TLSKey = strings.TrimSpace(getenv("AP_HTTP_TLS_KEY"))
	return o, errors.Join(errs...)
}

func commaList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseRate reads RATE[:BURST].
func parseRate(v string) (float64, int, error) {
	bad := fmt.Errorf("AP_HTTP_RATE_LIMIT %q: 应为 每秒请求数[:突发数], 如 50:100; 0 关闭 / want RATE[:BURST] per second, e.g. 50:100; 0 turns it off", v)
	rs, bs, hasBurst := strings.Cut(v, ":")
	r, err := strconv.ParseFloat(strings.TrimSpace(rs), 64)
	if err != nil || r < 0 || r > 1e6 {
		return 0, 0, bad
	}
	b := 0
	if hasBurst {
		if b, err = strconv.Atoi(strings.TrimSpace(bs)); err != nil || b < 1 {
			return 0, 0, bad
		}
	}
	return r, b, nil
}
