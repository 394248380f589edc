package alipay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Gateways of the real Alipay.
const (
	ProdGateway    = "https://openapi.alipay.com/gateway.do"
	SandboxGateway = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
)

// Config configures a Client. Keys are parsed beforehand (ParsePrivateKey,
// ParsePublicKey) so that a bad key is reported once, at start-up.
type Config struct {
	AppID           string
	PrivateKey      *rsa.PrivateKey // the app private key (应用私钥)
	AlipayPublicKey *rsa.PublicKey  // the Alipay public key (支付宝公钥)
	SignType        SignType        // RSA2 (default) or RSA
	GatewayURL      string          // ProdGateway, SandboxGateway, or any URL
	AppAuthToken    string          // optional, for service providers
	ReturnURL       string          // optional default return_url for links
	NotifyURL       string          // optional default notify_url
	Timeout         time.Duration   // per HTTP attempt; default 15s (HTTPClient's own when that is set)
	MaxAttempts     int             // attempts of query, refund and refund query; default 3
	HTTPClient      *http.Client    // default: a client with Timeout
	Now             func() time.Time
	// Trades remembers each order's trade number, to refuse answers that
	// name another; share one between the clients of a process. nil = a
	// book of this client's own.
	Trades *TradeBook
}

// DefaultTimeout is Config.Timeout when 0: one HTTP attempt's bound.
const DefaultTimeout = 15 * time.Second

// DefaultMaxAttempts is Config.MaxAttempts when 0.
const DefaultMaxAttempts = 3

// Client calls the Alipay OpenAPI v2 gateway. It is safe for concurrent use.
type Client struct {
	cfg     Config
	http    *http.Client
	backoff func(attempt int) time.Duration
	trades  *TradeBook
}

// NewClient checks cfg and returns a client.
func NewClient(cfg Config) (*Client, error) {
	var problems []string
	if strings.TrimSpace(cfg.AppID) == "" {
		problems = append(problems, "应用 AppID 为空 / app id is empty")
	}
	if cfg.PrivateKey == nil {
		problems = append(problems, "缺少应用私钥 / app private key is missing")
	}
	if cfg.AlipayPublicKey == nil {
		problems = append(problems, "缺少支付宝公钥 / Alipay public key is missing")
	}
	if cfg.SignType == "" {
		cfg.SignType = RSA2
	}
	if _, err := cfg.SignType.hash(); err != nil {
		problems = append(problems, err.Error())
	}
	if cfg.GatewayURL == "" {
		cfg.GatewayURL = ProdGateway
	}
	if u, err := url.Parse(cfg.GatewayURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("网关地址 %q 必须是 http(s) 绝对地址 / gateway URL %q is not an absolute http(s) URL", cfg.GatewayURL, cfg.GatewayURL))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("支付宝客户端配置错误 / alipay client config: %s", strings.Join(problems, "; "))
	}
	if err := CheckKeyPair("AlipayPublicKey (支付宝公钥)", cfg.PrivateKey, cfg.AlipayPublicKey); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Trades == nil {
		cfg.Trades = NewTradeBook(0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// The gateway never redirects an API call; a redirect means a wrong
		// URL (a login page, a proxy) and is reported as its status.
		hc = &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	return &Client{cfg: cfg, http: hc, backoff: defaultBackoff, trades: cfg.Trades}, nil
}

// defaultBackoff waits 200ms, 400ms, … with jitter, capped at 2s.
func defaultBackoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << (attempt - 1)
	if d > 2*time.Second {
		d = 2 * time.Second
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// AppID returns the configured app id.
func (c *Client) AppID() string { return c.cfg.AppID }

// GatewayURL returns the configured gateway.
func (c *Client) GatewayURL() string { return c.cfg.GatewayURL }

// commonParams are the public parameters of every request.
func (c *Client) commonParams(method string) map[string]string {
	p := map[string]string{
		"app_id":    c.cfg.AppID,
		"method":    method,
		"format":    "JSON",
		"charset":   "utf-8",
		"sign_type": string(c.cfg.SignType),
		"timestamp": FormatTimestamp(c.cfg.Now()),
		"version":   "1.0",
	}
	if c.cfg.AppAuthToken != "" {
		p["app_auth_token"] = c.cfg.AppAuthToken
	}
	return p
}

// sign adds biz_content (already serialised by marshalBiz) and the
// signature over every parameter to p.
func (c *Client) sign(p map[string]string, bizJSON string) error {
	p["biz_content"] = bizJSON
	sign, err := Sign(c.cfg.PrivateKey, c.cfg.SignType, []byte(SignContent(p)))
	if err != nil {
		return err
	}
	p["sign"] = sign
	return nil
}

// marshalBiz serialises biz_content once; that exact text is signed and sent.
// HTML escaping is off so "<" and "&" in titles travel as themselves.
func marshalBiz(biz any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(biz); err != nil {
		return "", fmt.Errorf("encode biz_content: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// urlParams are the parameters the official SDKs put in the query string of
// a server call; the rest (biz_content) travels in the form body. Keeping
// charset in the URL lets the gateway decode the body, and no parameter is
// sent twice.
var urlParams = map[string]bool{
	"app_id": true, "method": true, "format": true, "charset": true, "sign_type": true, "sign": true,
	"timestamp": true, "version": true, "notify_url": true, "return_url": true, "auth_token": true,
	"app_auth_token": true, "app_cert_sn": true, "alipay_root_cert_sn": true, "ws_service_url": true,
}

// splitParams returns the gateway URL carrying the parameters for which
// inURL is true (replacing any of the same name already in the configured
// URL, so none is sent twice), and the form-encoded rest.
func (c *Client) splitParams(p map[string]string, inURL func(string) bool) (string, string, error) {
	u, err := url.Parse(c.cfg.GatewayURL)
	if err != nil {
		return "", "", fmt.Errorf("gateway URL: %w", err)
	}
	q := u.Query()
	body := url.Values{}
	for k, v := range p {
		if inURL(k) {
			q.Set(k, v)
		} else {
			body.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), body.Encode(), nil
}

// call POSTs a signed request and verifies the answer, which must be bound
// to the request by b. out receives the response object on success (code
// 10000). With retry, an unknown outcome is retried with the same business
// content up to MaxAttempts times. No attempt starts once ctx is done: an
// error's Attempts counts the requests that may have reached the gateway,
// and 0 means none was sent.
func (c *Client) call(ctx context.Context, method string, biz any, b binding, retry bool, out any) error {
	return c.callWith(ctx, method, biz, nil, b, retry, out)
}

// callWith is call with extra public parameters (notify_url); empty values
// are left out.
func (c *Client) callWith(ctx context.Context, method string, biz any, public map[string]string, b binding, retry bool, out any) error {
	attempts := 1
	if retry {
		attempts = c.cfg.MaxAttempts
	}
	bizJSON, err := marshalBiz(biz)
	if err != nil {
		return &Error{Method: method, Err: err}
	}
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return &Error{Method: method, Attempts: attempt - 1,
				Err: fmt.Errorf("请求已取消或超时, 未再发送 / cancelled or timed out, not sent again: %w", ctx.Err())}
		}
		err := c.once(ctx, method, bizJSON, public, b, out)
		if err == nil {
			return nil
		}
		if err.Err != nil {
			err.Err = &redacted{msg: c.scrub(err.Err.Error()), err: err.Err}
		}
		err.Attempts = attempt
		if !err.Retryable || attempt >= attempts {
			return err
		}
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return &Error{Method: method, Attempts: attempt,
				Err: fmt.Errorf("请求已取消或超时, 已放弃重试 / cancelled or timed out, retry abandoned: %w; 上次错误 / last error: %v", ctx.Err(), err)}
		case <-t.C:
		}
	}
}

// requestParams returns the signed parameters of one server call.
func (c *Client) requestParams(method, bizJSON string, public map[string]string) (map[string]string, error) {
	p := c.commonParams(method)
	for k, v := range public {
		if v != "" {
			p[k] = v
		}
	}
	if err := c.sign(p, bizJSON); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *Client) once(ctx context.Context, method, bizJSON string, public map[string]string, b binding, out any) *Error {
	p, err := c.requestParams(method, bizJSON, public)
	if err != nil {
		return &Error{Method: method, Err: err}
	}
	target, body, err := c.splitParams(p, func(k string) bool { return urlParams[k] })
	if err != nil {
		return &Error{Method: method, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return &Error{Method: method, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// The request URL carries the signed parameters, app_auth_token
		// among them, and this error reaches tool results: name the
		// gateway without them.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = withoutQuery(target)
		}
		if ctx.Err() != nil {
			return &Error{Method: method, Err: fmt.Errorf("请求已取消或超时 / cancelled or timed out: %w", ctx.Err())}
		}
		return &Error{Method: method, Retryable: true, Err: fmt.Errorf("网络错误 / network error: %w", err)}
	}
	defer resp.Body.Close()
	trace := resp.Header.Get("trace_id")
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		if ctx.Err() != nil {
			return &Error{Method: method, TraceID: trace, Err: fmt.Errorf("请求已取消或超时 / cancelled or timed out: %w", ctx.Err())}
		}
		return &Error{Method: method, TraceID: trace, Retryable: true, Err: fmt.Errorf("读取响应失败 / reading the response failed: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return &Error{Method: method, HTTPStatus: resp.StatusCode, TraceID: trace, Retryable: resp.StatusCode >= 500,
			Err: fmt.Errorf("%w; body starts %q", ErrHTTPStatus, preview(bytes.TrimSpace(respBody)))}
	}
	if len(respBody) > maxResponse {
		return &Error{Method: method, TraceID: trace, Err: fmt.Errorf("%w: body larger than %d bytes", ErrMalformedResponse, maxResponse)}
	}
	return c.decode(ctx, method, respBody, trace, b, out)
}

// withoutQuery is u cut before its query string.
func withoutQuery(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}

// maxResponse bounds a gateway body; real ones are a few kilobytes.
const maxResponse = 4 << 20

type status struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

// decode verifies a gateway body and unmarshals the response object. It
// returns nil only for a success (code 10000) whose signature verifies and
// that is bound to the request (b). Gateway texts in errors are scrubbed
// of this client's secrets (see scrub).
func (c *Client) decode(ctx context.Context, method string, body []byte, trace string, b binding, out any) *Error {
	env, err := ExtractResponse(body, method)
	if err != nil {
		return &Error{Method: method, TraceID: trace, Err: err}
	}
	var st status
	if err := json.Unmarshal(env.Content, &st); err != nil {
		return &Error{Method: method, TraceID: trace, Err: fmt.Errorf("%w: 响应内容 / response object: %v", ErrMalformedResponse, err)}
	}
	if env.Sign == "" {
		if st.Code == "10000" || st.Code == "" {
			return &Error{Method: method, TraceID: trace,
				Err: fmt.Errorf("%w: 响应没有签名, 已拒绝 / the response has no sign, refused", ErrBadSignature)}
		}
		return &Error{Method: method, Code: c.scrub(st.Code), Msg: c.scrub(st.Msg), SubCode: c.scrub(st.SubCode), SubMsg: c.scrub(st.SubMsg),
			Unverified: true, TraceID: c.scrub(trace)}
	}
	if err := Verify(c.cfg.AlipayPublicKey, c.cfg.SignType, env.Content, env.Sign); err != nil {
		return &Error{Method: method, TraceID: trace,
			Err: fmt.Errorf("%w: 请检查支付宝公钥 (AP_PUB_KEY) 是否为开放平台上本应用显示的那个 / check that the Alipay public key (AP_PUB_KEY) is the one shown for this app in the portal; "+
				"未验证的答复 / unverified answer: code=%q sub_code=%q", err, clip(st.Code), clip(st.SubCode))}
	}
	if m := c.check(ctx, b, env.Content, st.Code == "10000"); m != nil {
		return &Error{Method: method, TraceID: c.scrub(trace), Err: m}
	}
	if st.Code != "10000" {
		return &Error{Method: method, Code: c.scrub(st.Code), Msg: c.scrub(st.Msg), SubCode: c.scrub(st.SubCode), SubMsg: c.scrub(st.SubMsg),
			Retryable: retryableCode(st.Code, st.SubCode), TraceID: c.scrub(trace)}
	}
	if out != nil {
		// Verified and bound; a field that echoes the app_auth_token
		// still must not carry it further.
		if err := json.Unmarshal([]byte(c.scrubToken(string(env.Content))), out); err != nil {
			return &Error{Method: method, TraceID: trace, Err: fmt.Errorf("%w: %v", ErrMalformedResponse, err)}
		}
	}
	return nil
}

// clip shortens an untrusted string for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return preview([]byte(s))
	}
	return s
}
