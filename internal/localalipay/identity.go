package localalipay

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// identityFile holds the local app and the local Alipay's keys. It is written
// once, atomically, with mode 0600.
const identityFile = "identity.json"

// AppIDPrefix starts every local app id, so a local id can never be mistaken
// for a real one (real app ids are 16 digits).
const AppIDPrefix = "local-"

// identity is what identity.json stores.
type identity struct {
	AppID             string          `json:"app_id"`
	SellerID          string          `json:"seller_id"`
	AppPrivateKey     string          `json:"app_private_key"`    // PKCS#8, one-line base64
	AlipayPrivateKey  string          `json:"alipay_private_key"` // PKCS#8, one-line base64
	CreatedAt         string          `json:"created_at"`         // RFC 3339
	Note              string          `json:"note"`               // says what this is
	appKey, alipayKey *rsa.PrivateKey // parsed
	alipayPublicKey   string          // one-line base64 SPKI of alipayKey, for Credentials
}

// loadOrCreateIdentity reads dir/identity.json, or creates it with fresh
// 2048-bit keys. Two processes racing here end up with the same identity: the
// file appears atomically (hard link of a complete temporary file).
func loadOrCreateIdentity(dir string) (*identity, error) {
	path := filepath.Join(dir, identityFile)
	if id, err := readIdentity(path); err == nil {
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	id, err := newIdentity()
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode identity: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".identity-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("create identity: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write identity: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		// No hard links on this file system: create exclusively instead.
		if err := writeExclusive(path, append(data, '\n')); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("install identity: %w", err)
		}
	}
	// Whoever won the race, the file on disk is the identity.
	return readIdentity(path)
}

func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readIdentity(path string) (*identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(data, &id); err != nil {
		return nil, fmt.Errorf("%s 已损坏, 请删除数据目录后重新开始 (%s is damaged; delete the data directory to start afresh): %w", path, path, err)
	}
	if id.AppID == "" || id.SellerID == "" {
		return nil, fmt.Errorf("%s 已损坏: 缺少 app_id 或 seller_id, 请删除数据目录后重新开始 (%s lacks app_id or seller_id; delete the data directory to start afresh)", path, path)
	}
	if id.appKey, err = alipay.ParsePrivateKey(path+" app_private_key", id.AppPrivateKey); err != nil {
		return nil, err
	}
	if id.alipayKey, err = alipay.ParsePrivateKey(path+" alipay_private_key", id.AlipayPrivateKey); err != nil {
		return nil, err
	}
	if id.alipayPublicKey, err = alipay.EncodePublicKey(&id.alipayKey.PublicKey); err != nil {
		return nil, fmt.Errorf("%s: encode the Alipay public key: %w", path, err)
	}
	return &id, nil
}

func newIdentity() (*identity, error) {
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate app key: %w", err)
	}
	alipayKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate alipay key: %w", err)
	}
	id := &identity{
		AppID:     AppIDPrefix + "2021" + randomDigits(12),
		SellerID:  "2088" + randomDigits(12),
		CreatedAt: time.Now().UTC().Format(time.RFC3339),
		Note:      "本地模拟支付宝的测试密钥, 与真实支付宝无关 (keys of the LOCAL Alipay; not real Alipay credentials)",
		appKey:    appKey,
		alipayKey: alipayKey,
	}
	if id.AppPrivateKey, err = alipay.EncodePrivateKeyPKCS8(appKey); err != nil {
		return nil, err
	}
	if id.AlipayPrivateKey, err = alipay.EncodePrivateKeyPKCS8(alipayKey); err != nil {
		return nil, err
	}
	return id, nil
}

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// AppID reads the app id of the local Alipay whose data directory is dir,
// without starting it (the ledger keys local records by it). It fails when
// no local Alipay has run there yet.
func AppID(dir string) (string, error) {
	id, err := readIdentity(filepath.Join(dir, identityFile))
	if err != nil {
		return "", err
	}
	return id.AppID, nil
}
