package httpserve

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

const (
	readerSecret = "reader-secret-0123456789abcdef"
	payerSecret  = "payer-secret-0123456789abcdef01"
	adminSecret  = "admin-secret-0123456789abcdef02"
)

// startWithTokens serves with three static tokens: reader (read) from
// AP_HTTP_TOKENS, payer (read, pay) and admin (all) from a token file that
// holds only the payer's hash.
func startWithTokens(t *testing.T, mod func(*Options, string)) *harness {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# name:scopes:secret\npayer:read,pay:"+HashToken(payerSecret)+"\n\nadmin:all:"+adminSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AP_HTTP_TOKENS": "reader:read:" + readerSecret, "AP_HTTP_TOKENS_FILE": file}
	eo, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return start(t, func(o *Options, url string) {
		o.Tokens = eo.Tokens
		if mod != nil {
			mod(o, url)
		}
	})
}

func TestStaticTokensAndScopes(t *testing.T) {
	h := startWithTokens(t, nil)
	for _, tc := range []struct {
		token string
		want  []string
	}{
		{readerSecret, readTools},
		{payerSecret, payTools},
		{adminSecret, allTools},
	} {
		for _, proto := range []string{"", "2025-11-25"} {
			cs := h.connect(t, proto, tc.token, nil)
			if got := toolNames(t, cs); !slices.Equal(got, tc.want) {
				t.Errorf("%s at %q: tools/list = %v, want %v", tc.token[:5], proto, got, tc.want)
			}
			// A tool the token may not use is refused when called anyway.
			for _, name := range allTools {
				if slices.Contains(tc.want, name) {
					continue
				}
				_, err := callTool(context.Background(), cs, name, `{"outTradeNo":"X1","totalAmount":1,"orderTitle":"t","refundAmount":1,"outRequestNo":"R"}`)
				if err == nil || !strings.Contains(err.Error(), "unknown tool") {
					t.Errorf("%s at %q calling %s: err = %v, want unknown tool", tc.token[:5], proto, name, err)
				}
			}
			// The order status resource needs read, which every token has here.
			if _, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: tools.TradeURI("NOPE1")}); err != nil {
				t.Errorf("read resource: %v", err)
			}
		}
	}
	if strings.Contains(h.log.String(), "secret-0123") {
		t.Error("a token appears in the log")
	}
	_, metrics := get(t, h.url+"/metrics")
	if strings.Contains(metrics, "secret-0123") {
		t.Error("a token appears in /metrics")
	}
}

func TestMissingOrBadTokenIs401(t *testing.T) {
	h := startWithTokens(t, nil)
	for _, tc := range []struct {
		name, auth, wantChallenge string
	}{
		{"none", "", `Bearer realm="mcp-server-alipay"`},
		{"wrong", "Bearer not-a-token-of-ours-0123456789", `Bearer realm="mcp-server-alipay", error="invalid_token"`},
		{"hash as token", "Bearer " + HashToken(payerSecret), `Bearer realm="mcp-server-alipay", error="invalid_token"`},
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:"+readerSecret)), `Bearer realm="mcp-server-alipay", error="invalid_token"`},
	} {
		resp, body := h.post(t, initBody, map[string]string{"Authorization": tc.auth})
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != tc.wantChallenge {
			t.Errorf("%s: %d %q %s, want 401 %q", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, tc.wantChallenge)
		}
	}
	if got := h.svc.Metrics().authFailed.Value(); got != 4 {
		t.Errorf("auth failures counted %d, want 4", got)
	}
}

// A stateful session belongs to the token that opened it.
func TestSessionBoundToToken(t *testing.T) {
	h := startWithTokens(t, nil)
	resp, _ := h.post(t, initBody, map[string]string{"Authorization": "Bearer " + adminSecret})
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	hdr := map[string]string{"Authorization": "Bearer " + readerSecret, "Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	if resp, body := h.post(t, list, hdr); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another token on the session: %d %s, want 403", resp.StatusCode, body)
	}
}

func TestParseTokensErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a:read:short", "too short"},
		{"a:admin:" + readerSecret, `invalid scope "admin"`},
		{"a b:read:" + readerSecret, "invalid token name"},
		{"a:read", "want NAME:SCOPES:SECRET"},
		{"a:read:sha256:abcd", "64 hex digits"},
		{"a:read:" + readerSecret + ";a:pay:" + payerSecret, "duplicate token name"},
		{"a:read:" + readerSecret + ";b:pay:" + readerSecret, "same secret"},
	} {
		_, err := ParseTokens(tc.in, "AP_HTTP_TOKENS")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), readerSecret) || strings.Contains(err.Error(), payerSecret) {
			t.Errorf("%q: the error quotes a secret: %v", tc.in, err)
		}
	}
	toks, err := ParseTokens("# comment\n a : read , pay : "+readerSecret+" \n\nb:all:"+HashToken(payerSecret), "x")
	if err != nil || len(toks) != 2 || !slices.Equal(toks[0].Scopes, []tools.Scope{"read", "pay"}) || len(toks[1].Scopes) != 3 {
		t.Fatalf("tokens = %+v, %v", toks, err)
	}
	if _, ok := lookupToken(toks, payerSecret); !ok {
		t.Error("the hashed token does not match its secret")
	}
	if _, ok := lookupToken(toks, payerSecret+"x"); ok {
		t.Error("a different secret matches")
	}
}

// Off loopback the service refuses to start without authentication.
func TestRefusesOpenServiceOffLoopback(t *testing.T) {
	h := start(t, nil) // for a server to hand New
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8848"} {
		_, err := New(Options{Server: h.svc.o.Server, Listen: addr})
		if err == nil || !strings.Contains(err.Error(), "authentication is required") {
			t.Errorf("%s without auth: err = %v", addr, err)
		}
	}
	toks, _ := ParseTokens("a:read:"+readerSecret, "x")
	if _, err := New(Options{Server: h.svc.o.Server, Listen: "0.0.0.0:0", Tokens: toks, AllowedHosts: []string{"mcp.example.com"}}); err != nil {
		t.Errorf("0.0.0.0 with a token: %v", err)
	}
}

// Off loopback the Host check always has a list: every address needs one
// named, and a specific address allows itself and loopback, nothing else.
func TestHostCheckOffLoopback(t *testing.T) {
	h := start(t, nil)
	toks, _ := ParseTokens("a:read:"+readerSecret, "x")
	for _, addr := range []string{"0.0.0.0:8848", ":8848", "[::]:8848"} {
		_, err := New(Options{Server: h.svc.o.Server, Listen: addr, Tokens: toks})
		if err == nil || !strings.Contains(err.Error(), "AP_HTTP_ALLOWED_HOSTS") {
			t.Errorf("%s without a host list: err = %v", addr, err)
		}
	}
	s, err := New(Options{Server: h.svc.o.Server, Listen: "192.0.2.1:8848", Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"evil.example.com": http.StatusForbidden, "192.0.2.1:8848": http.StatusOK, "127.0.0.1:8848": http.StatusOK} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Host = host
		s.handler.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d", host, rec.Code, want)
		}
	}
	// Another loopback address listened on is its own Host (the local
	// notify_url names it), and still no stranger's.
	s, err = New(Options{Server: h.svc.o.Server, Listen: "127.0.0.2:8848"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"127.0.0.2:8848": http.StatusOK, "localhost:8848": http.StatusOK, "evil.example.com": http.StatusForbidden} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Host = host
		s.handler.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("listening on 127.0.0.2, Host %s: %d, want %d", host, rec.Code, want)
		}
	}
}

// issuer is a local OAuth authorization server: metadata and a JWKS with
// keys the test made.
type issuer struct {
	url   string
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	other *rsa.PrivateKey // not in the JWKS
	hits  atomic.Int32
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{}
	var err error
	if is.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if is.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if is.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	_, is.ed, _ = ed25519.GenerateKey(rand.Reader)
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	ecPub, _ := is.ec.PublicKey.Bytes() // 0x04 || X || Y
	jwks := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256", "n": b64(is.rsa.N.Bytes()), "e": b64(big.NewInt(int64(is.rsa.E)).Bytes())},
		{"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b64(ecPub[1:33]), "y": b64(ecPub[33:])},
		{"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": b64(is.ed.Public().(ed25519.PublicKey))},
		{"kty": "RSA", "kid": "enc1", "use": "enc", "n": b64(is.other.N.Bytes()), "e": "AQAB"},
	}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.url = srv.URL
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.url, "jwks_uri": is.url + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		is.hits.Add(1)
		json.NewEncoder(w).Encode(jwks)
	})
	return is
}

// token signs claims with method and key under kid.
func (is *issuer) token(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOAuthResourceServer(t *testing.T) {
	is := newIssuer(t)
	h := start(t, func(o *Options, url string) {
		o.PublicURL = url
		o.OAuth = &OAuth{Issuer: is.url}
	})
	resource := h.url + "/mcp"
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": is.url, "aud": resource, "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "scope": "alipay:read alipay:pay openid"}
		if mod != nil {
			mod(c)
		}
		return c
	}

	t.Run("valid", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			token string
			want  []string
		}{
			{"RS256 read+pay", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(nil)), payTools},
			{"ES256 scp list, base URL audience", is.token(t, jwt.SigningMethodES256, is.ec, "ec1", claims(func(c jwt.MapClaims) {
				delete(c, "scope")
				c["scp"] = []string{"alipay:refund"}
				c["aud"] = []string{"https://other.example", h.url}
			})), []string{tools.NameRefundPay}},
			{"EdDSA every scope, client_id only", is.token(t, jwt.SigningMethodEdDSA, is.ed, "ed1", claims(func(c jwt.MapClaims) {
				delete(c, "sub")
				c["client_id"] = "platform-7"
				c["scope"] = "alipay:read alipay:pay alipay:refund"
			})), allTools},
		} {
			for _, proto := range []string{"", "2025-11-25"} {
				cs := h.connect(t, proto, tc.token, nil)
				if got := toolNames(t, cs); !slices.Equal(got, tc.want) {
					t.Errorf("%s at %q: tools = %v, want %v", tc.name, proto, got, tc.want)
				}
			}
		}
	})

	t.Run("rejected", func(t *testing.T) {
		hs := jwt.New(jwt.SigningMethodHS256)
		hs.Claims = claims(nil)
		hs.Header["kid"] = "rsa1"
		hmacWithPublicKey, _ := hs.SignedString([]byte(is.rsa.PublicKey.N.Bytes()))
		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		for _, tc := range []struct{ name, token string }{
			{"expired", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))},
			{"no exp", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
			{"other audience", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(func(c jwt.MapClaims) { c["aud"] = "https://another-server.example/mcp" }))},
			{"no audience", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(func(c jwt.MapClaims) { delete(c, "aud") }))},
			{"other issuer", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))},
			{"signed by a key not in the JWKS", is.token(t, jwt.SigningMethodRS256, is.other, "rsa1", claims(nil))},
			{"unknown kid", is.token(t, jwt.SigningMethodRS256, is.other, "rsa9", claims(nil))},
			{"encryption key used to sign", is.token(t, jwt.SigningMethodRS256, is.other, "enc1", claims(nil))},
			{"alg none", none},
			{"HS256 keyed with the public key", hmacWithPublicKey},
			{"no subject", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(func(c jwt.MapClaims) { delete(c, "sub") }))},
			{"not yet valid", is.token(t, jwt.SigningMethodRS256, is.rsa, "rsa1", claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }))},
			{"garbage", "a.b.c"},
		} {
			resp, body := h.post(t, initBody, map[string]string{"Authorization": "Bearer " + tc.token})
			want := `Bearer realm="mcp-server-alipay", resource_metadata="` + h.url + `/.well-known/oauth-protected-resource/mcp", error="invalid_token"`
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
				t.Errorf("%s: %d %q %s", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
			if strings.Contains(body, tc.token) {
				t.Errorf("%s: the answer quotes the token", tc.name)
			}
		}
		// Unknown kids refresh the keys at most every 30 s.
		if is.hits.Load() > 2 {
			t.Errorf("the JWKS was fetched %d times", is.hits.Load())
		}
	})

	t.Run("metadata", func(t *testing.T) {
		for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
			resp, body := get(t, h.url+path)
			var m struct {
				Resource             string   `json:"resource"`
				AuthorizationServers []string `json:"authorization_servers"`
				ScopesSupported      []string `json:"scopes_supported"`
			}
			if err := json.Unmarshal([]byte(body), &m); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			if m.Resource != resource || !slices.Equal(m.AuthorizationServers, []string{is.url}) ||
				!slices.Equal(m.ScopesSupported, []string{"alipay:read", "alipay:pay", "alipay:refund"}) {
				t.Errorf("%s: %+v", path, m)
			}
		}
		resp, _ := h.post(t, initBody, nil)
		if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `resource_metadata="`+h.url+`/.well-known/oauth-protected-resource/mcp"`) {
			t.Errorf("401 without a token: WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
	})
}
