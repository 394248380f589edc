package httpserve

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// OAuth configures the OAuth 2.1 resource-server mode: access tokens are
// JWTs an authorization server issued for this server.
type OAuth struct {
	// Issuer is the authorization server's issuer identifier; a token's iss
	// must equal it.
	Issuer string
	// JWKSURL is where the issuer publishes its signing keys. Empty: read
	// from the issuer's metadata (RFC 8414, then OpenID Connect discovery).
	JWKSURL string
	// ScopeNames is the token scope that grants each of our scopes.
	// Missing entries default to "alipay:read", "alipay:pay", "alipay:refund".
	ScopeNames map[tools.Scope]string
	// HTTPClient fetches metadata and keys; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
}

// DefaultScopeName is the token scope that grants s when OAuth.ScopeNames
// does not say.
func DefaultScopeName(s tools.Scope) string { return "alipay:" + string(s) }

func (o *OAuth) scopeName(s tools.Scope) string {
	if n := o.ScopeNames[s]; n != "" {
		return n
	}
	return DefaultScopeName(s)
}

// jwtAlgs are the signature algorithms accepted: asymmetric only, so a
// public key can never be used as an HMAC secret, and never "none".
var jwtAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// jwtVerifier checks access tokens against the issuer's JWKS, which it
// caches and refreshes when a token names a key it does not know (at most
// every refreshEvery, so bad tokens cannot make it hammer the issuer).
type jwtVerifier struct {
	o         OAuth
	audiences []string
	client    *http.Client

	mu          sync.Mutex
	jwksURL     string
	keys        map[string]jwk // by kid
	fetched     time.Time
	lastAttempt time.Time
}

const (
	jwksMaxAge   = 10 * time.Minute
	refreshEvery = 30 * time.Second
	jwtLeeway    = 30 * time.Second
)

type jwk struct {
	alg string // "" when the JWK does not say
	key crypto.PublicKey
}

func newJWTVerifier(o OAuth, audiences []string) *jwtVerifier {
	c := o.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	return &jwtVerifier{o: o, audiences: audiences, client: c, jwksURL: o.JWKSURL}
}

// accessClaims are the claims read from an access token.
type accessClaims struct {
	jwt.RegisteredClaims
	Scope    string `json:"scope"`     // RFC 8693/9068: space-separated
	Scp      any    `json:"scp"`       // some issuers: a list or a string
	ClientID string `json:"client_id"` // RFC 9068
}

func (c *accessClaims) scopes() []string {
	out := strings.Fields(c.Scope)
	switch v := c.Scp.(type) {
	case string:
		out = append(out, strings.Fields(v)...)
	case []any:
		for _, s := range v {
			if s, ok := s.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// errKeys is a failure to get the issuer's keys: not the token's fault.
var errKeys = errors.New("无法获取签发方的公钥 / cannot fetch the issuer's keys")

// verify checks signature, issuer, audience, expiry (required) and not-before,
// and maps the token's scopes to ours.
func (v *jwtVerifier) verify(ctx context.Context, raw string) (*auth.TokenInfo, error) {
	var c accessClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) { return v.key(ctx, t) },
		jwt.WithValidMethods(jwtAlgs),
		jwt.WithIssuer(v.o.Issuer),
		jwt.WithAudience(v.audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
	)
	if err != nil {
		if errors.Is(err, errKeys) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: 访问令牌无效 / access token rejected: %s", auth.ErrInvalidToken, jwtReason(err))
	}
	who := c.Subject
	if who == "" {
		who = c.ClientID
	}
	if who == "" {
		return nil, fmt.Errorf("%w: 访问令牌没有 sub 或 client_id / access token has neither sub nor client_id", auth.ErrInvalidToken)
	}
	granted := c.scopes()
	var ours []string
	for _, s := range allScopes {
		if slices.Contains(granted, v.o.scopeName(s)) {
			ours = append(ours, string(s))
		}
	}
	return &auth.TokenInfo{
		Scopes:     ours,
		Expiration: c.ExpiresAt.Time,
		UserID:     "oauth:" + who,
	}, nil
}

// jwtReason names what was wrong with a token without quoting it.
func jwtReason(err error) string {
	for _, e := range []struct {
		err error
		why string
	}{
		{jwt.ErrTokenMalformed, "格式错误 / malformed"},
		{jwt.ErrTokenSignatureInvalid, "签名无效 / bad signature"},
		{jwt.ErrTokenUnverifiable, "无法验证签名 (未知的密钥或算法) / cannot verify the signature (unknown key or algorithm)"},
		{jwt.ErrTokenExpired, "已过期 / expired"},
		{jwt.ErrTokenRequiredClaimMissing, "缺少必需的声明 (exp/aud/iss) / a required claim is missing (exp, aud or iss)"},
		{jwt.ErrTokenInvalidAudience, "aud 不是本服务器 / audience is not this server"},
		{jwt.ErrTokenInvalidIssuer, "iss 不是配置的签发方 / issuer is not the configured one"},
		{jwt.ErrTokenNotValidYet, "尚未生效 / not valid yet"},
		{jwt.ErrTokenUsedBeforeIssued, "签发时间在未来 / issued in the future"},
	} {
		if errors.Is(err, e.err) {
			return e.why
		}
	}
	return "无效 / invalid"
}

// key returns the public key a token names, refreshing the JWKS when the
// cache is old or lacks the key.
func (v *jwtVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	alg := t.Method.Alg()
	v.mu.Lock()
	defer v.mu.Unlock()
	k, ok := v.lookup(kid)
	stale := time.Since(v.fetched) > jwksMaxAge
	if (!ok || stale) && time.Since(v.lastAttempt) >= refreshEvery {
		v.lastAttempt = time.Now()
		if err := v.refresh(ctx); err != nil {
			if !ok {
				return nil, fmt.Errorf("%w: %v", errKeys, err)
			}
			// A stale key is still the issuer's key: use it.
		} else {
			k, ok = v.lookup(kid)
		}
	}
	if !ok {
		return nil, fmt.Errorf("签发方没有此密钥 / the issuer has no key %q", kid)
	}
	if k.alg != "" && k.alg != alg {
		return nil, fmt.Errorf("密钥 %q 用于 %s, 令牌用 %s / key %q is for %s, the token uses %s", kid, k.alg, alg, kid, k.alg, alg)
	}
	return k.key, nil
}

// lookup finds a key by kid; a token without kid may use the only key.
func (v *jwtVerifier) lookup(kid string) (jwk, bool) {
	if kid == "" && len(v.keys) == 1 {
		for _, k := range v.keys {
			return k, true
		}
	}
	k, ok := v.keys[kid]
	return k, ok && kid != ""
}

func (v *jwtVerifier) refresh(ctx context.Context) error {
	if v.jwksURL == "" {
		u, err := discoverJWKS(ctx, v.client, v.o.Issuer)
		if err != nil {
			return err
		}
		v.jwksURL = u
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, v.client, v.jwksURL, &set); err != nil {
		return err
	}
	keys := map[string]jwk{}
	for _, raw := range set.Keys {
		kid, k, err := parseJWK(raw)
		if err != nil {
			continue // a key we cannot use (encryption, unknown type) is skipped
		}
		keys[kid] = k
	}
	if len(keys) == 0 {
		return fmt.Errorf("JWKS %s 中没有可用的签名公钥 / has no usable signing key", v.jwksURL)
	}
	v.keys, v.fetched = keys, time.Now()
	return nil
}

// parseJWK reads one public signing key (RSA ≥ 2048 bits, EC P-256/384/521,
// Ed25519).
func parseJWK(raw json.RawMessage) (string, jwk, error) {
	var j struct {
		Kty, Kid, Use, Alg, Crv, N, E, X, Y string
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return "", jwk{}, err
	}
	if j.Use != "" && j.Use != "sig" {
		return "", jwk{}, errors.New("not a signing key")
	}
	b64 := base64.RawURLEncoding.DecodeString
	switch j.Kty {
	case "RSA":
		n, err1 := b64(j.N)
		e, err2 := b64(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return "", jwk{}, errors.New("bad RSA key")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 {
			return "", jwk{}, errors.New("RSA key shorter than 2048 bits")
		}
		return j.Kid, jwk{alg: j.Alg, key: pub}, nil
	case "EC":
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		curve, ok := curves[j.Crv]
		x, err1 := b64(j.X)
		y, err2 := b64(j.Y)
		if !ok || err1 != nil || err2 != nil {
			return "", jwk{}, errors.New("bad EC key")
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) > size || len(y) > size {
			return "", jwk{}, errors.New("bad EC key")
		}
		point := make([]byte, 1+2*size)
		point[0] = 4
		copy(point[1+size-len(x):1+size], x)
		copy(point[1+2*size-len(y):], y)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return "", jwk{}, err
		}
		return j.Kid, jwk{alg: j.Alg, key: pub}, nil
	case "OKP":
		x, err := b64(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return "", jwk{}, errors.New("bad OKP key")
		}
		return j.Kid, jwk{alg: j.Alg, key: ed25519.PublicKey(x)}, nil
	}
	return "", jwk{}, errors.New("unknown key type")
}

// discoverJWKS reads the issuer's metadata: RFC 8414 first, then OpenID
// Connect discovery. The metadata must name the same issuer.
func discoverJWKS(ctx context.Context, c *http.Client, issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(u.Path, "/")
	candidates := []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + path,
		strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
	}
	var errs []error
	for _, c2 := range candidates {
		var m struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, c, c2, &m); err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Issuer != issuer {
			errs = append(errs, fmt.Errorf("%s 中的 issuer %q 与配置不符 / names issuer %q, not the configured one", c2, m.Issuer, m.Issuer))
			continue
		}
		if m.JWKSURI == "" {
			errs = append(errs, fmt.Errorf("%s 没有 jwks_uri / has no jwks_uri", c2))
			continue
		}
		return m.JWKSURI, nil
	}
	return "", errors.Join(errs...)
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
