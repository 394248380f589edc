package alipay

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// KeyError explains why a configured key cannot be used. It never contains
// key material.
type KeyError struct {
	Setting string   // the variable or option that held the key, e.g. AP_APP_KEY
	Tried   []string // the encodings that were tried
	Cause   string   // the likely cause, for a human
	Err     error
}

// Error names the setting, the likely cause and the encodings tried.
func (e *KeyError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Setting, e.Cause)
	if len(e.Tried) > 0 {
		msg += " (已尝试 / tried: " + strings.Join(e.Tried, ", ") + ")"
	}
	return msg
}

// keyTextError is why key text could not be decoded, in both languages, so
// that a KeyError can put each half beside its own language.
type keyTextError struct{ zh, en string }

func (e *keyTextError) Error() string { return e.zh + " / " + e.en }

// causeWith is "zh: inner / en: inner" for a decoding error.
func causeWith(zh, en string, err error) string {
	var te *keyTextError
	if errors.As(err, &te) {
		return zh + ": " + te.zh + " / " + en + ": " + te.en
	}
	return zh + " / " + en + ": " + err.Error()
}

// Unwrap returns the underlying parse error, if any.
func (e *KeyError) Unwrap() error { return e.Err }

// keyEscapes undoes what env files and JSON do to line breaks: literal "\n"
// (also double-escaped "\\n") becomes a newline, literal "\r" goes away.
var keyEscapes = strings.NewReplacer(`\\r`, "", `\\n`, "\n", `\r`, "", `\n`, "\n")

// normalizeKeyText accepts a PEM block or bare base64, with surrounding
// spaces and quotes, CRLF, and literal "\n" escapes as env files hold them.
// It returns the DER bytes and the PEM type ("" when the input was bare base64).
func normalizeKeyText(s string) ([]byte, string, error) {
	s = strings.TrimSpace(s)
	s = keyEscapes.Replace(s)
	s = strings.Trim(s, "\"' \t\r\n")
	if s == "" {
		return nil, "", &keyTextError{"为空", "empty"}
	}
	if strings.Contains(s, "-----BEGIN") {
		if block, _ := pem.Decode([]byte(s)); block != nil {
			if block.Headers["Proc-Type"] != "" {
				return nil, block.Type, errEncryptedKey
			}
			return block.Bytes, block.Type, nil
		}
		// A PEM block pasted on one line, or with its line breaks turned
		// into spaces: take the text between the armour lines.
		return unarmour(s)
	}
	der, err := decodeBase64Loose(s)
	if err != nil {
		return nil, "", &keyTextError{"既不是 PEM 也不是 base64", "not PEM and not base64"}
	}
	return der, "", nil
}

var errEncryptedKey = &keyTextError{"加密的 PEM", "encrypted PEM"}

// unarmour decodes "-----BEGIN X-----<base64>-----END X-----" whatever the
// whitespace between the parts.
func unarmour(s string) ([]byte, string, error) {
	bad := &keyTextError{"PEM 格式不完整", "malformed PEM block"}
	_, rest, _ := strings.Cut(s, "-----BEGIN ")
	typ, rest, ok := strings.Cut(rest, "-----")
	if !ok {
		return nil, "", bad
	}
	body, _, ok := strings.Cut(rest, "-----END ")
	if !ok {
		return nil, typ, bad
	}
	if strings.Contains(body, ":") {
		return nil, typ, errEncryptedKey
	}
	der, err := decodeBase64Loose(body)
	if err != nil {
		return nil, typ, bad
	}
	return der, typ, nil
}

// decodeBase64Loose decodes standard base64, ignoring whitespace and
// accepting missing padding.
func decodeBase64Loose(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		}
		return r
	}, s)
	if clean == "" {
		return nil, errors.New("empty")
	}
	der, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		der, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
	}
	return der, err
}

// Causes shared by the key parsers; none of them quotes the key.
const (
	causePublicNotPrivate = "这是公钥, 不是私钥: 请填写应用私钥 / this is a public key, not a private key: give the app private key"
	causePrivateNotPublic = "这是私钥, 不是公钥: 请填写支付宝公钥, 并且不要泄露私钥 / " +
		"this is a private key, not a public key: give the Alipay public key, and keep the private key secret"
	causeEncrypted = "私钥已加密 (带密码), 请导出未加密的私钥 / the key is encrypted with a passphrase; export it unencrypted"
)

// ParsePrivateKey parses an RSA private key given as PKCS#1 or PKCS#8, PEM or
// bare base64. setting names where it came from, for the error message.
func ParsePrivateKey(setting, s string) (*rsa.PrivateKey, error) {
	tried := []string{"PKCS#1", "PKCS#8"}
	der, typ, err := normalizeKeyText(s)
	if errors.Is(err, errEncryptedKey) || strings.Contains(typ, "ENCRYPTED") {
		return nil, &KeyError{Setting: setting, Tried: tried, Cause: causeEncrypted, Err: errEncryptedKey}
	}
	if err != nil {
		return nil, &KeyError{Setting: setting, Tried: []string{"PEM", "base64"},
			Cause: causeWith("私钥无法解析", "the private key cannot be read", err), Err: err}
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return checkPrivate(setting, k)
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, &KeyError{Setting: setting, Tried: tried,
				Cause: fmt.Sprintf("这是 %s 私钥, 支付宝需要 RSA 私钥 / this is a %s key; Alipay needs an RSA key", keyKind(k), keyKind(k))}
		}
		return checkPrivate(setting, rk)
	}
	if _, err := x509.ParsePKIXPublicKey(der); err == nil || strings.Contains(typ, "PUBLIC") {
		return nil, &KeyError{Setting: setting, Tried: tried, Cause: causePublicNotPrivate}
	}
	if _, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return nil, &KeyError{Setting: setting, Tried: tried, Cause: causePublicNotPrivate}
	}
	if _, err := x509.ParseCertificate(der); err == nil || strings.Contains(typ, "CERTIFICATE") {
		return nil, &KeyError{Setting: setting, Tried: tried,
			Cause: "这是证书, 不是私钥 / this is a certificate, not a private key"}
	}
	return nil, &KeyError{Setting: setting, Tried: tried,
		Cause: "无法解析为 RSA 私钥, 可能复制不完整 / not an RSA private key; was it copied completely?"}
}

func checkPrivate(setting string, k *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if k.N.BitLen() < 1024 {
		return nil, &KeyError{Setting: setting, Cause: fmt.Sprintf("RSA 密钥太短: %d 位, 支付宝使用 2048 位 / key too short: %d bits; Alipay uses 2048", k.N.BitLen(), k.N.BitLen())}
	}
	if err := k.Validate(); err != nil {
		return nil, &KeyError{Setting: setting, Cause: "RSA 私钥无效 / invalid RSA private key", Err: errors.New("validation failed")}
	}
	k.Precompute()
	return k, nil
}

// keyKind names a non-RSA key type without printing the key.
func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PrivateKey, ed25519.PublicKey:
		return "Ed25519"
	case *ecdh.PrivateKey, *ecdh.PublicKey:
		return "ECDH"
	}
	return fmt.Sprintf("%T", k)
}

// ParsePublicKey parses an RSA public key given as X.509 SubjectPublicKeyInfo
// (or PKCS#1), PEM or bare base64, or taken from a PEM certificate.
func ParsePublicKey(setting, s string) (*rsa.PublicKey, error) {
	tried := []string{"SPKI", "PKCS#1", "X.509 certificate"}
	der, typ, err := normalizeKeyText(s)
	if errors.Is(err, errEncryptedKey) || strings.Contains(typ, "PRIVATE") && err != nil {
		return nil, &KeyError{Setting: setting, Tried: tried, Cause: causePrivateNotPublic}
	}
	if err != nil {
		return nil, &KeyError{Setting: setting, Tried: []string{"PEM", "base64"},
			Cause: causeWith("公钥无法解析", "the public key cannot be read", err), Err: err}
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, &KeyError{Setting: setting, Tried: tried,
				Cause: fmt.Sprintf("这是 %s 公钥, 支付宝需要 RSA 公钥 / this is a %s key; Alipay needs an RSA key", keyKind(k), keyKind(k))}
		}
		return rk, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		if rk, ok := c.PublicKey.(*rsa.PublicKey); ok {
			return rk, nil
		}
		return nil, &KeyError{Setting: setting, Tried: tried,
			Cause: fmt.Sprintf("证书中是 %s 公钥, 支付宝需要 RSA 公钥 / the certificate holds a %s key; Alipay needs an RSA key", keyKind(c.PublicKey), keyKind(c.PublicKey))}
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil || strings.Contains(typ, "PRIVATE") {
		return nil, &KeyError{Setting: setting, Tried: tried, Cause: causePrivateNotPublic}
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return nil, &KeyError{Setting: setting, Tried: tried, Cause: causePrivateNotPublic}
	}
	return nil, &KeyError{Setting: setting, Tried: tried,
		Cause: "无法解析为 RSA 公钥, 可能复制不完整 / not an RSA public key; was it copied completely?"}
}

// CheckKeyPair reports the most common set-up mistake: giving the public half
// of the app's own key where the Alipay public key belongs.
func CheckKeyPair(setting string, appKey *rsa.PrivateKey, alipayKey *rsa.PublicKey) error {
	if appKey != nil && alipayKey != nil && appKey.PublicKey.Equal(alipayKey) {
		return &KeyError{Setting: setting,
			Cause: "填写的是你自己的应用公钥, 不是支付宝公钥: 请在开放平台「接口加签方式」中复制「支付宝公钥」 / " +
				"the Alipay public key given is the public half of your own app key: use the Alipay public key from the portal"}
	}
	return nil
}

// EncodePrivateKeyPKCS8 returns the one-line base64 PKCS#8 form the Alipay
// key tool shows.
func EncodePrivateKeyPKCS8(k *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("encode private key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// EncodePublicKey returns the one-line base64 SPKI form the Alipay portal shows.
func EncodePublicKey(k *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}
