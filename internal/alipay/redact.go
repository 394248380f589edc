package alipay

import (
	"html"
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces a secret in gateway text.
const Redacted = "[已隐藏 / redacted]"

var (
	// tokenParam is an app_auth_token parameter in an echoed signed string
	// ("…&app_auth_token=201…&…"), whatever its value.
	tokenParam = regexp.MustCompile(`(?i)(app_auth_token|auth_token)(=|":\s*"|：)[^&\s"',;]*`)
	// longBase64 is a run of base64 long enough to be key material or a
	// signature (an RSA-2048 signature is 344 characters, keys more); order
	// and trade numbers are at most 64 characters and never hold + or /.
	longBase64 = regexp.MustCompile(`[A-Za-z0-9+/]{80,}={0,2}`)
)

// scrub removes this client's secrets from text that came from the gateway
// before it can reach an error, a tool result or a log: the app_auth_token
// (AP_INVOKE_AUTH_TOKEN) as itself, URL-encoded or HTML-escaped, any
// auth-token parameter of an echoed signed string, and long base64 runs
// (keys, signatures). The gateway echoes the string it verified in some
// errors (isv.invalid-signature), and that string holds app_auth_token.
func (c *Client) scrub(s string) string {
	if s == "" {
		return s
	}
	return longBase64.ReplaceAllString(c.scrubToken(s), Redacted)
}

// scrubToken removes the app_auth_token and auth-token parameters only; it
// is what a successful answer's fields go through (their long values, such
// as passback_params, are the merchant's own and are kept).
func (c *Client) scrubToken(s string) string {
	if tok := c.cfg.AppAuthToken; tok != "" {
		for _, form := range []string{tok, url.QueryEscape(tok), url.PathEscape(tok), html.EscapeString(tok)} {
			s = strings.ReplaceAll(s, form, Redacted)
		}
	}
	return tokenParam.ReplaceAllString(s, "${1}${2}"+Redacted)
}

// redacted is an error whose message has been scrubbed; it still unwraps
// to the original, so errors.Is and errors.As see the same chain.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
