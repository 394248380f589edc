package httpserve

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// The caller's identity, as tools and the audit log see it, is
// TokenInfo.UserID: "token:<name>" for a static token, "oauth:<sub>" for an
// OAuth access token (client_id when it has no sub). The prefixes keep a
// token named like a subject from sharing its sessions or rate limit.

// authenticator verifies bearer tokens: static tokens first, then JWTs.
type authenticator struct {
	tokens []Token
	jwt    *jwtVerifier // nil without OAuth
	// metadataURL is the RFC 9728 metadata URL named in WWW-Authenticate.
	metadataURL string
}

func (a *authenticator) enabled() bool { return a != nil && (len(a.tokens) > 0 || a.jwt != nil) }

// verify is the auth.TokenVerifier. Its errors never quote the token.
func (a *authenticator) verify(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
	if t, ok := lookupToken(a.tokens, token); ok {
		scopes := make([]string, len(t.Scopes))
		for i, s := range t.Scopes {
			scopes[i] = string(s)
		}
		return &auth.TokenInfo{Scopes: scopes, UserID: "token:" + t.Name}, nil
	}
	if a.jwt != nil && strings.Count(token, ".") == 2 {
		return a.jwt.verify(ctx, token)
	}
	return nil, fmt.Errorf("%w: 令牌无效 / invalid token", auth.ErrInvalidToken)
}

// middleware requires a valid bearer token. A 401 carries WWW-Authenticate:
// with OAuth, resource_metadata points clients at the RFC 9728 metadata as
// the MCP authorization spec says; error="invalid_token" is added when a
// token was presented (RFC 6750 §3.1).
func (a *authenticator) middleware(onFail func()) func(http.Handler) http.Handler {
	require := auth.RequireBearerToken(a.verify, &auth.RequireBearerTokenOptions{
		// Static tokens do not expire; JWTs are checked for exp by the
		// verifier (WithExpirationRequired) and again by the SDK.
		AllowMissingExpiration: true,
	})
	return func(next http.Handler) http.Handler {
		h := require(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(&challengeWriter{ResponseWriter: w, a: a, presented: r.Header.Get("Authorization") != "", onFail: onFail}, r)
		})
	}
}

// challengeWriter adds WWW-Authenticate to a 401.
type challengeWriter struct {
	http.ResponseWriter
	a         *authenticator
	presented bool
	onFail    func()
	wrote     bool
}

func (c *challengeWriter) WriteHeader(code int) {
	if !c.wrote && code == http.StatusUnauthorized {
		params := []string{`realm="mcp-server-alipay"`}
		if c.a.metadataURL != "" {
			params = append(params, fmt.Sprintf("resource_metadata=%q", c.a.metadataURL))
		}
		if c.presented {
			params = append(params, `error="invalid_token"`)
		}
		c.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
		if c.onFail != nil {
			c.onFail()
		}
	}
	c.wrote = true
	c.ResponseWriter.WriteHeader(code)
}

func (c *challengeWriter) Write(b []byte) (int, error) {
	c.wrote = true
	return c.ResponseWriter.Write(b)
}

// Flush and Unwrap keep SSE streaming working through the wrapper.
func (c *challengeWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// resourceMetadata is this server's RFC 9728 protected-resource metadata.
func resourceMetadata(resource string, o *OAuth) *oauthex.ProtectedResourceMetadata {
	var names []string
	for _, s := range allScopes {
		names = append(names, o.scopeName(s))
	}
	return &oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   []string{o.Issuer},
		ScopesSupported:        names,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mcp-server-alipay",
	}
}

// hasScope reports whether ti grants s. Without authentication (ti nil on a
// loopback server with no tokens configured) everything is allowed.
func hasScope(ti *auth.TokenInfo, authOn bool, s tools.Scope) bool {
	if !authOn {
		return true
	}
	return ti != nil && slices.Contains(ti.Scopes, string(s))
}
