package httpserve

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// MinTokenLength is the shortest static token accepted: 128 bits of a
// random base64url or hex string take at least 22 characters.
const MinTokenLength = 22

// Token is a static bearer token: a name for logs and audit, the scopes it
// grants, and the SHA-256 of its secret. The secret itself is never kept.
type Token struct {
	Name   string
	Scopes []tools.Scope
	digest [sha256.Size]byte
}

// allScopes are the scopes a token may name.
var allScopes = []tools.Scope{tools.ScopeRead, tools.ScopePay, tools.ScopeRefund}

// ParseTokens reads static tokens, one per line (or separated by ";"):
//
//	NAME:SCOPES:SECRET
//
// NAME is 1-64 of letters, digits, '.', '_' and '-'; SCOPES is a comma list
// of read, pay and refund (or "all"); SECRET is the token itself (at least
// MinTokenLength characters) or "sha256:" and the 64 hex digits of its
// SHA-256, so that a token file need not hold the tokens. Blank lines and
// lines starting with '#' are skipped. source names where the text came from
// in errors; errors never quote a secret.
func ParseTokens(text, source string) ([]Token, error) {
	var toks []Token
	var errs []error
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(text, ";", "\n")))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		t, err := parseToken(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s 第 %d 项 / entry %d: %w", source, line, line, err))
			continue
		}
		if slices.ContainsFunc(toks, func(o Token) bool { return o.Name == t.Name }) {
			errs = append(errs, fmt.Errorf("%s 第 %d 项 / entry %d: 令牌名 %q 重复 / duplicate token name %q", source, line, line, t.Name, t.Name))
			continue
		}
		if slices.ContainsFunc(toks, func(o Token) bool { return o.digest == t.digest }) {
			errs = append(errs, fmt.Errorf("%s 第 %d 项 / entry %d: 与另一个令牌的密钥相同 / same secret as another token", source, line, line))
			continue
		}
		toks = append(toks, t)
	}
	return toks, errors.Join(errs...)
}

func parseToken(s string) (Token, error) {
	name, rest, ok1 := strings.Cut(s, ":")
	scopes, secret, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return Token{}, errors.New("格式应为 NAME:SCOPES:SECRET / want NAME:SCOPES:SECRET (e.g. agent:read,pay:<token> or agent:read:sha256:<64 hex>)")
	}
	t := Token{Name: strings.TrimSpace(name)}
	if !validName(t.Name) {
		return Token{}, fmt.Errorf("令牌名无效 / invalid token name %q: 1-64 个字母、数字、. _ - / 1-64 letters, digits, . _ -", t.Name)
	}
	for _, sc := range strings.Split(scopes, ",") {
		sc = strings.ToLower(strings.TrimSpace(sc))
		switch {
		case sc == "all":
			t.Scopes = slices.Clone(allScopes)
		case slices.Contains(allScopes, tools.Scope(sc)):
			if !slices.Contains(t.Scopes, tools.Scope(sc)) {
				t.Scopes = append(t.Scopes, tools.Scope(sc))
			}
		default:
			return Token{}, fmt.Errorf("令牌 %s 的权限无效 / token %s: invalid scope %q; 可用 / allowed: read, pay, refund, all", t.Name, t.Name, sc)
		}
	}
	secret = strings.TrimSpace(secret)
	if hexDigest, ok := strings.CutPrefix(secret, "sha256:"); ok {
		b, err := hex.DecodeString(hexDigest)
		if err != nil || len(b) != sha256.Size {
			return Token{}, fmt.Errorf("令牌 %s: sha256: 后应为 64 个十六进制数字 / token %s: sha256: must be followed by 64 hex digits", t.Name, t.Name)
		}
		copy(t.digest[:], b)
		return t, nil
	}
	if len(secret) < MinTokenLength {
		return Token{}, fmt.Errorf("令牌 %s 太短 / token %s is too short: 至少 %d 个字符, 请用随机生成的值 (如 `openssl rand -hex 32`) / at least %d characters; use a random value (e.g. `openssl rand -hex 32`)", t.Name, t.Name, MinTokenLength, MinTokenLength)
	}
	if strings.ContainsAny(secret, " \t") {
		return Token{}, fmt.Errorf("令牌 %s 含空白字符 / token %s contains whitespace", t.Name, t.Name)
	}
	t.digest = sha256.Sum256([]byte(secret))
	return t, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// HashToken is the "sha256:<hex>" form of a secret, for token files.
func HashToken(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(d[:])
}

// lookupToken finds the token whose secret is presented. It compares the
// presented secret's digest with every token's in constant time and visits
// all of them, so the time taken says nothing about which, if any, matched.
func lookupToken(toks []Token, presented string) (Token, bool) {
	d := sha256.Sum256([]byte(presented))
	found := -1
	for i := range toks {
		if subtle.ConstantTimeCompare(d[:], toks[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, false
	}
	return toks[found], true
}
