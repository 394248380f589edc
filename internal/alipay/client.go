package alipay

import (
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
	Timeout         time.Duration   // per HTTP attempt; default 15s
	MaxAttempts     int             // attempts for retryable calls; default 3
	HTTPClient      *http.Client    // default: a client with Timeout
	Now             func() time.Time
}

// Client calls the Alipay OpenAPI v2 gateway. It is safe for concurrent use.
type Client struct {
	cfg     Config
	http    *http.Client
	backoff func(attempt int) time.Duration
}

// NewClient checks cfg and returns a client.
func NewClient(cfg Config) (*Client, error) {
	var problems []string
	if strings.TrimSpace(cfg.AppID) == "" {
		problems = append(problems, "app id is empty")
	}
	if cfg.PrivateKey == nil {
		problems = append(problems, "app private key is missing")
	}
	if cfg.AlipayPublicKey == nil {
		problems = append(problems, "Alipay public key is missing")
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
		problems = append(problems, fmt.Sprintf("gateway URL %q is not an absolute http(s) URL", cfg.GatewayURL))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("alipay client: %s", strings.Join(problems, "; "))
	}
	if err := CheckKeyPair("Alipay public key", cfg.PrivateKey, cfg.AlipayPublicKey); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, http: hc, backoff: defaultBackoff}, nil
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

// signParams adds biz_content and sign to p.
func (c *Client) signParams(p map[string]string, biz any) error {
	bc, err := marshalBiz(biz)
	if err != nil {
		return err
	}
	p["biz_content"] = bc
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

func encodeValues(p map[string]string) string {
	v := make(url.Values, len(p))
	for k, s := range p {
		v.Set(k, s)
	}
	return v.Encode()
}

// call POSTs a signed request and verifies the answer. out receives the
// response object on success (code 10000).
func (c *Client) call(ctx context.Context, method string, biz any, extra map[string]string, retry bool, out any) error {
	attempts := 1
	if retry {
		attempts = c.cfg.MaxAttempts
	}
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(c.backoff(attempt - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return &Error{Method: method, Err: fmt.Errorf("%w (after %d attempts, last: %v)", ctx.Err(), attempt-1, last)}
			case <-t.C:
			}
		}
		err := c.once(ctx, method, biz, extra, out)
		if err == nil {
			return nil
		}
		last = err
		var ae *Error
		if !errors.As(err, &ae) || !ae.Retryable || ctx.Err() != nil {
			return err
		}
	}
	return last
}

func (c *Client) once(ctx context.Context, method string, biz any, extra map[string]string, out any) error {
	p := c.commonParams(method)
	for k, v := range extra {
		p[k] = v
	}
	if err := c.signParams(p, biz); err != nil {
		return &Error{Method: method, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.gatewayWithCharset(), strings.NewReader(encodeValues(p)))
	if err != nil {
		return &Error{Method: method, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Method: method, Retryable: ctx.Err() == nil, Err: fmt.Errorf("network error (网络错误): %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return &Error{Method: method, Retryable: ctx.Err() == nil, Err: fmt.Errorf("read response: %w", err)}
	}
	trace := resp.Header.Get("trace_id")
	if resp.StatusCode != http.StatusOK {
		return &Error{Method: method, HTTPStatus: resp.StatusCode, TraceID: trace, Retryable: resp.StatusCode >= 500,
			Err: fmt.Errorf("gateway answered HTTP %d", resp.StatusCode)}
	}
	return c.decode(method, body, trace, out)
}

func (c *Client) gatewayWithCharset() string {
	u := c.cfg.GatewayURL
	if strings.Contains(u, "charset=") {
		return u
	}
	if strings.Contains(u, "?") {
		return u + "&charset=utf-8"
	}
	return u + "?charset=utf-8"
}

type status struct {
	Code    string `json:"code"`
	Msg     string `json:"msg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

// decode verifies a gateway body and unmarshals the response object.
func (c *Client) decode(method string, body []byte, trace string, out any) error {
	env, err := ExtractResponse(body, method)
	if err != nil {
		return &Error{Method: method, TraceID: trace, Err: err}
	}
	var st status
	if err := json.Unmarshal(env.Content, &st); err != nil {
		return &Error{Method: method, TraceID: trace, Err: fmt.Errorf("%w: response object: %v", ErrMalformedResponse, err)}
	}
	if env.Sign == "" {
		if st.Code == "10000" || st.Code == "" {
			return &Error{Method: method, TraceID: trace, Err: fmt.Errorf("%w: success response without sign", ErrBadSignature)}
		}
		return &Error{Method: method, Code: st.Code, Msg: st.Msg, SubCode: st.SubCode, SubMsg: st.SubMsg,
			Unverified: true, TraceID: trace}
	}
	if err := Verify(c.cfg.AlipayPublicKey, c.cfg.SignType, env.Content, env.Sign); err != nil {
		return &Error{Method: method, TraceID: trace,
			Err: fmt.Errorf("%w: check that AP_PUB_KEY is the Alipay public key of this app (检查支付宝公钥是否正确)", err)}
	}
	if st.Code != "10000" {
		return &Error{Method: method, Code: st.Code, Msg: st.Msg, SubCode: st.SubCode, SubMsg: st.SubMsg,
			Retryable: retryableCode(st.Code, st.SubCode), TraceID: trace}
	}
	if out != nil {
		if err := json.Unmarshal(env.Content, out); err != nil {
			return &Error{Method: method, TraceID: trace, Err: fmt.Errorf("%w: %v", ErrMalformedResponse, err)}
		}
	}
	return nil
}
