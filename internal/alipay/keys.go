package alipay

import (
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

func (e *KeyError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Setting, e.Cause)
	if len(e.Tried) > 0 {
		msg += " (tried: " + strings.Join(e.Tried, ", ") + ")"
	}
	return msg
}

func (e *KeyError) Unwrap() error { return e.Err }

// normalizeKeyText accepts a PEM block or bare base64, with surrounding
// spaces, CRLF, and literal "\n" escapes as env files hold them. It returns
// the DER bytes and the PEM type ("" when the input was bare base64).
func normalizeKeyText(s string) ([]byte, string, error) {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, `\r`, "")
	s = strings.ReplaceAll(s, `\n`, "\n")
	s = strings.Trim(s, `"'`)
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, "", errors.New("empty")
	}
	if strings.Contains(s, "-----BEGIN") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			// Headers may be on one line with the body (pasted without newlines).
			return nil, "", errors.New("malformed PEM block")
		}
		return block.Bytes, block.Type, nil
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		}
		return r
	}, s)
	der, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		der, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
	}
	if err != nil {
		return nil, "", errors.New("not base64 and not PEM")
	}
	return der, "", nil
}

// ParsePrivateKey parses an RSA private key given as PKCS#1 or PKCS#8, PEM or
// bare base64. setting names where it came from, for the error message.
func ParsePrivateKey(setting, s string) (*rsa.PrivateKey, error) {
	tried := []string{"PKCS#1", "PKCS#8"}
	der, typ, err := normalizeKeyText(s)
	if err != nil {
		return nil, &KeyError{Setting: setting, Tried: []string{"PEM", "base64"},
			Cause: "私钥无法解析: " + err.Error() + " (the private key is neither PEM nor base64)", Err: err}
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return checkPrivate(setting, k)
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, &KeyError{Setting: setting, Tried: tried, Cause: fmt.Sprintf("这是 %T 私钥, 需要 RSA 私钥 (not an RSA key)", k)}
		}
		return checkPrivate(setting, rk)
	}
	if _, err := x509.ParsePKIXPublicKey(der); err == nil || strings.Contains(typ, "PUBLIC") {
		return nil, &KeyError{Setting: setting, Tried: tried,
			Cause: "这是公钥, 不是私钥: 请填写应用私钥 (this is a public key, not a private key)"}
	}
	if _, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return nil, &KeyError{Setting: setting, Tried: tried,
			Cause: "这是公钥, 不是私钥: 请填写应用私钥 (this is a public key, not a private key)"}
	}
	if _, err := x509.ParseCertificate(der); err == nil {
		return nil, &KeyError{Setting: setting, Tried: tried,
			Cause: "这是证书, 不是私钥 (this is a certificate, not a private key)"}
	}
	return nil, &KeyError{Setting: setting, Tried: tried,
		Cause: "无法解析为 RSA 私钥, 可能复制不完整 (not an RSA private key; was it copied completely?)"}
}

func checkPrivate(setting string, k *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if k.N.BitLen() < 1024 {
		return nil, &KeyError{Setting: setting, Cause: fmt.Sprintf("RSA 密钥太短: %d 位 (key too short: %d bits)", k.N.BitLen(), k.N.BitLen())}
	}
	if err := k.Validate(); err != nil {
		return nil, &KeyError{Setting: setting, Cause: "RSA 私钥无效 (invalid RSA private key)", Err: errors.New("validation failed")}
	}
	k.Precompute()
	return k, nil
}

// ParsePublicKey parses an RSA public key given as X.509 SubjectPublicKeyInfo
// (or PKCS#1), PEM or bare base64, or taken from a PEM certificate.
func ParsePublicKey(setting, s string) (*rsa.PublicKey, error) {
	tried := []string{"SPKI", "PKCS#1", "X.509 certificate"}
	der, _, err := normalizeKeyText(s)
	if err != nil {
		return nil, &KeyError{Setting: setting, Tried: []string{"PEM", "base64"},
			Cause: "公钥无法解析: " + err.Error() + " (the public key is neither PEM nor base64)", Err: err}
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, &KeyError{Setting: setting, Tried: tried, Cause: fmt.Sprintf("这是 %T 公钥, 需要 RSA 公钥 (not an RSA key)", k)}
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
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return nil, &KeyError{Setting: setting, Tried: tried,
			Cause: "这是私钥, 不是公钥: 请填写支付宝公钥, 并且不要泄露私钥 (this is a private key, not a public key)"}
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return nil, &KeyError{Setting: setting, Tried: tried,
			Cause: "这是私钥, 不是公钥: 请填写支付宝公钥, 并且不要泄露私钥 (this is a private key, not a public key)"}
	}
	return nil, &KeyError{Setting: setting, Tried: tried,
		Cause: "无法解析为 RSA 公钥, 可能复制不完整 (not an RSA public key; was it copied completely?)"}
}

// CheckKeyPair reports the most common set-up mistake: giving the public half
// of the app's own key where the Alipay public key belongs.
func CheckKeyPair(setting string, appKey *rsa.PrivateKey, alipayKey *rsa.PublicKey) error {
	if appKey != nil && alipayKey != nil && appKey.PublicKey.Equal(alipayKey) {
		return &KeyError{Setting: setting,
			Cause: "填写的是你自己的应用公钥, 不是支付宝公钥: 请在开放平台「接口加签方式」中复制「支付宝公钥」 " +
				"(the Alipay public key given is the public half of your own app key: use the Alipay public key from the portal)"}
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
