package alipay

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// SignType is the signature algorithm: RSA2 (SHA256withRSA) or RSA (SHA1withRSA).
type SignType string

// The sign types Alipay accepts.
const (
	RSA2 SignType = "RSA2"
	RSA  SignType = "RSA"
)

// ParseSignType accepts "RSA2" (also the default for "") and "RSA".
func ParseSignType(s string) (SignType, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "RSA2":
		return RSA2, nil
	case "RSA":
		return RSA, nil
	}
	return "", fmt.Errorf("sign type %q: 签名方式只能是 RSA2 或 RSA / allowed values are RSA2 and RSA", s)
}

func (t SignType) hash() (crypto.Hash, error) {
	switch t {
	case RSA2:
		return crypto.SHA256, nil
	case RSA:
		return crypto.SHA1, nil
	}
	return 0, fmt.Errorf("sign type %q: 签名方式只能是 RSA2 或 RSA / allowed values are RSA2 and RSA", string(t))
}

func digest(t SignType, content []byte) (crypto.Hash, []byte, error) {
	h, err := t.hash()
	if err != nil {
		return 0, nil, err
	}
	if h == crypto.SHA1 {
		d := sha1.Sum(content)
		return h, d[:], nil
	}
	d := sha256.Sum256(content)
	return h, d[:], nil
}

// ErrBadSignature is wrapped by every signature verification failure.
var ErrBadSignature = errors.New("验签失败 / signature does not verify")

// Sign signs content with PKCS#1 v1.5 and returns standard base64.
func Sign(key *rsa.PrivateKey, t SignType, content []byte) (string, error) {
	h, d, err := digest(t, content)
	if err != nil {
		return "", err
	}
	sig, err := signPKCS1v15(key, h, d)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks a base64 PKCS#1 v1.5 signature over content.
func Verify(key *rsa.PublicKey, t SignType, content []byte, sign string) error {
	h, d, err := digest(t, content)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return fmt.Errorf("%w: sign is not base64", ErrBadSignature)
	}
	if err := rsa.VerifyPKCS1v15(key, h, d, sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

// SignContent builds the string Alipay signs for a request: every parameter
// except sign, empty values dropped, keys sorted, raw "k=v" joined by "&".
func SignContent(params map[string]string) string {
	return joinSorted(params, func(k, v string) bool { return k != "sign" && v != "" })
}

// SignNotification signs params as Alipay signs a notification or a return
// redirect (NotifySignContent, with key) and returns the form Alipay posts:
// params, sign_type and sign. The local Alipay sends such forms; tests
// forge them.
func SignNotification(key *rsa.PrivateKey, t SignType, params map[string]string) (url.Values, error) {
	sign, err := Sign(key, t, []byte(NotifySignContent(params)))
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, x := range params {
		v.Set(k, x)
	}
	v.Set("sign_type", string(t))
	v.Set("sign", sign)
	return v, nil
}

// NotifySignContent builds the string Alipay signs for a notification or a
// return redirect ("V1"): every parameter except sign and sign_type, sorted.
// Empty values are kept, as the Java SDK does.
func NotifySignContent(params map[string]string) string {
	return joinSorted(params, func(k, _ string) bool { return k != "sign" && k != "sign_type" })
}

func joinSorted(params map[string]string, keep func(k, v string) bool) string {
	keys := make([]string, 0, len(params))
	n := 0
	for k, v := range params {
		if keep(k, v) {
			keys = append(keys, k)
			n += len(k) + len(v) + 2
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String()
}

// FlattenForm turns url.Values into a map, refusing a key given twice:
// Alipay never sends duplicates and guessing which one was signed is unsafe.
func FlattenForm(v url.Values) (map[string]string, error) {
	m := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) != 1 {
			return nil, fmt.Errorf("parameter %q given %d times (参数重复)", k, len(vs))
		}
		m[k] = vs[0]
	}
	return m, nil
}

// VerifyNotification checks an asynchronous notification (or a return_url
// redirect) from Alipay: the body parsed once, sign and sign_type removed,
// verified with the Alipay public key.
func VerifyNotification(alipayKey *rsa.PublicKey, params map[string]string) error {
	sign := params["sign"]
	if sign == "" {
		return fmt.Errorf("%w: 通知没有签名 / notification has no sign", ErrBadSignature)
	}
	t, err := ParseSignType(params["sign_type"])
	if err != nil {
		return err
	}
	return Verify(alipayKey, t, []byte(NotifySignContent(params)), sign)
}

// chinaZone is Beijing time. A fixed zone needs no tzdata on the host.
var chinaZone = time.FixedZone("CST", 8*3600)

// ChinaZone returns the UTC+8 zone Alipay's timestamps are written in.
func ChinaZone() *time.Location { return chinaZone }

// TimestampLayout is the layout of Alipay's timestamp parameters.
const TimestampLayout = "2006-01-02 15:04:05"

// FormatTimestamp formats t as Beijing wall-clock time, whatever the host zone.
func FormatTimestamp(t time.Time) string { return t.In(chinaZone).Format(TimestampLayout) }

// ParseTimestamp parses an Alipay timestamp as Beijing time.
func ParseTimestamp(s string) (time.Time, error) {
	return time.ParseInLocation(TimestampLayout, s, chinaZone)
}
