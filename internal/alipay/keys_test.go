package alipay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// keyForms are the ways a key reaches us from env files, JSON and pastes.
var keyForms = []struct {
	name string
	f    func(string) string
}{
	{"as is", func(s string) string { return s }},
	{"surrounding spaces", func(s string) string { return "  \n\t" + s + " \n " }},
	{"CRLF", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }},
	{"literal \\n escapes", func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", `\n`) }},
	{"literal \\r\\n escapes", func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", `\r\n`) }},
	{"double-escaped \\\\n", func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", `\\n`) }},
	{"double quotes", func(s string) string { return `"` + s + `"` }},
	{"single quotes", func(s string) string { return "'" + s + "'" }},
	{"quoted with escapes", func(s string) string { return ` "` + strings.ReplaceAll(strings.TrimSpace(s), "\n", `\n`) + `" ` }},
	{"one line with spaces", func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ") }},
	{"one line glued", func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "") }},
}

func appKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey("test", mustRead(t, "app-private-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// KAT-K1: the same key in four encodings, each in every form, is one key.
func TestParsePrivateKeyEncodings(t *testing.T) {
	ref := appKey(t)
	for _, file := range []string{"app-private-key.pem", "app-private-key-pkcs8.pem",
		"app-private-key-no-wrapper.pem", "app-private-key-pkcs8-no-wrapper.pem"} {
		for _, form := range keyForms {
			t.Run(file+"/"+form.name, func(t *testing.T) {
				k, err := ParsePrivateKey("AP_APP_KEY", form.f(mustRead(t, file)))
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if !k.Equal(ref) {
					t.Fatal("parsed a different key")
				}
			})
		}
	}
}

func TestParsePublicKeyEncodings(t *testing.T) {
	ref := &appKey(t).PublicKey
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(ref)}))
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, appKey(t))}))
	oneLine, err := EncodePublicKey(ref)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]string{
		"SPKI PEM":            mustRead(t, "app-public-key.pem"),
		"SPKI bare":           mustRead(t, "app-public-key-no-wrapper.pem"),
		"EncodePublicKey":     oneLine,
		"PKCS#1 PEM":          pkcs1,
		"certificate PEM":     cert,
		"SPKI bare unpadded?": strings.TrimRight(oneLine, "="),
	}
	for name, in := range inputs {
		for _, form := range keyForms {
			t.Run(name+"/"+form.name, func(t *testing.T) {
				k, err := ParsePublicKey("AP_PUB_KEY", form.f(in))
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if !k.Equal(ref) {
					t.Fatal("parsed a different key")
				}
			})
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	ref := appKey(t)
	priv, err := EncodePrivateKeyPKCS8(ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(strings.Fields(mustRead(t, "app-private-key-pkcs8-no-wrapper.pem")), ""); priv != want {
		t.Errorf("EncodePrivateKeyPKCS8 differs from the PKCS#8 fixture")
	}
	pub, err := EncodePublicKey(&ref.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(strings.Fields(mustRead(t, "app-public-key-no-wrapper.pem")), ""); pub != want {
		t.Errorf("EncodePublicKey differs from the public fixture")
	}
}

func TestKeyErrors(t *testing.T) {
	app := appKey(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecPubDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privB64 := strings.Join(strings.Fields(mustRead(t, "app-private-key-no-wrapper.pem")), "")
	pubB64 := strings.Join(strings.Fields(mustRead(t, "app-public-key-no-wrapper.pem")), "")
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, app)}))
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + privB64[:200] + "\n-----END ENCRYPTED PRIVATE KEY-----\n"
	legacyEncrypted := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\n" +
		privB64[:200] + "\n-----END RSA PRIVATE KEY-----\n"

	type parse func(setting, s string) error
	private := func(setting, s string) error { _, err := ParsePrivateKey(setting, s); return err }
	public := func(setting, s string) error { _, err := ParsePublicKey(setting, s); return err }
	for _, tc := range []struct {
		name    string
		parse   parse
		setting string
		input   string
		cause   string
	}{
		{"public PEM as AP_APP_KEY", private, "AP_APP_KEY", mustRead(t, "app-public-key.pem"), "this is a public key, not a private key"},
		{"public bare as AP_APP_KEY", private, "AP_APP_KEY", pubB64, "this is a public key, not a private key"},
		{"PKCS#1 PEM as AP_PUB_KEY", public, "AP_PUB_KEY", mustRead(t, "app-private-key.pem"), "this is a private key, not a public key"},
		{"PKCS#8 PEM as AP_PUB_KEY", public, "AP_PUB_KEY", mustRead(t, "app-private-key-pkcs8.pem"), "this is a private key, not a public key"},
		{"PKCS#1 bare as AP_PUB_KEY", public, "AP_PUB_KEY", privB64, "this is a private key, not a public key"},
		{"PKCS#8 bare as AP_PUB_KEY", public, "AP_PUB_KEY", mustRead(t, "app-private-key-pkcs8-no-wrapper.pem"), "this is a private key, not a public key"},
		{"certificate as AP_APP_KEY", private, "AP_APP_KEY", cert, "certificate, not a private key"},
		{"garbage private", private, "AP_APP_KEY", "hello, world!", "not PEM and not base64"},
		{"base64 garbage private", private, "AP_APP_KEY", "aGVsbG8gd29ybGQ=", "copied completely"},
		{"garbage public", public, "AP_PUB_KEY", "not a key!", "not PEM and not base64"},
		{"empty private", private, "AP_APP_KEY", "  \n ", "empty"},
		{"empty public", public, "AP_PUB_KEY", `""`, "empty"},
		{"truncated private", private, "AP_APP_KEY", privB64[:len(privB64)/2], "copied completely"},
		{"truncated public", public, "AP_PUB_KEY", pubB64[:len(pubB64)-40], "copied completely"},
		{"broken PEM", private, "AP_APP_KEY", "-----BEGIN RSA PRIVATE KEY-----\n" + privB64[:64], "malformed PEM"},
		{"encrypted PKCS#8", private, "AP_APP_KEY", encrypted, "encrypted"},
		{"encrypted legacy PEM", private, "AP_APP_KEY", legacyEncrypted, "encrypted"},
		{"ECDSA private key", private, "AP_APP_KEY", base64.StdEncoding.EncodeToString(ecDER), "ECDSA"},
		{"ECDSA public key", public, "AP_PUB_KEY", base64.StdEncoding.EncodeToString(ecPubDER), "ECDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse(tc.setting, tc.input)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("want *KeyError, got %T %v", err, err)
			}
			msg := err.Error()
			if ke.Setting != tc.setting || !strings.HasPrefix(msg, tc.setting+": ") {
				t.Errorf("error does not name the setting %s: %s", tc.setting, msg)
			}
			if !strings.Contains(msg, tc.cause) {
				t.Errorf("error %q does not say %q", msg, tc.cause)
			}
			if !hasHan(msg) {
				t.Errorf("error has no Chinese text: %s", msg)
			}
			assertNoKeyMaterial(t, msg, tc.input)
		})
	}
}

// TestCheckKeyPair: the #1 set-up mistake, the app's own public key given as
// the Alipay public key, is caught by name.
func TestCheckKeyPair(t *testing.T) {
	app := appKey(t)
	own, err := ParsePublicKey("AP_PUB_KEY", mustRead(t, "app-public-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	err = CheckKeyPair("AP_PUB_KEY", app, own)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Setting != "AP_PUB_KEY" {
		t.Fatalf("want a KeyError for AP_PUB_KEY, got %v", err)
	}
	if !strings.Contains(err.Error(), "public half of your own app key") || !strings.Contains(err.Error(), "支付宝公钥") {
		t.Errorf("unclear cause: %s", err)
	}
	assertNoKeyMaterial(t, err.Error(), mustRead(t, "app-public-key.pem"))
	if err := CheckKeyPair("AP_PUB_KEY", app, testAlipayPublic(t)); err != nil {
		t.Errorf("a different key was refused: %v", err)
	}
	_, err = NewClient(Config{AppID: "2021000122671080", PrivateKey: app, AlipayPublicKey: own})
	if !errors.As(err, &ke) {
		t.Errorf("NewClient accepted the app's own public key as the Alipay key: %v", err)
	}
}

// assertNoKeyMaterial fails when msg holds any 12-character run of the
// base64 (or DER as text) in input.
func assertNoKeyMaterial(t *testing.T, msg, input string) {
	t.Helper()
	body := input
	for _, line := range strings.Split(input, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "-----") {
			body = strings.Replace(body, line, "", 1)
		}
	}
	body = strings.Join(strings.Fields(body), "")
	for i := 0; i+12 <= len(body); i++ {
		if w := body[i : i+12]; strings.Contains(msg, w) {
			t.Fatalf("error message contains key material %q: %s", w, msg)
		}
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

func selfSigned(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
