package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// readyKeyEvery bounds how often /readyz signs its probe: the endpoint is
// open to whoever reaches the port, and an RSA signature costs a
// millisecond or two of CPU.
const readyKeyEvery = 30 * time.Second

// readyProbe is what /readyz signs.
var readyProbe = []byte("mcp-server-alipay readyz probe")

// configCheck is the configuration check of /readyz:
//   - the app private key signs with the configured sign type, and the
//     signature verifies under its public half (a damaged key fails);
//   - AP_PUB_KEY is set and is Alipay's key, not the app's own public half;
//   - when AP_NOTIFY_URL is set, its receiver is mounted at its path.
//
// Its errors name the variable and never quote a key.
func configCheck(appKey *rsa.PrivateKey, signType alipay.SignType, alipayKey *rsa.PublicKey, notifyURL string, routes map[string]http.Handler) func(context.Context) error {
	var (
		mu      sync.Mutex
		checked time.Time
		keyErr  error
	)
	return func(context.Context) error {
		mu.Lock()
		if checked.IsZero() || time.Since(checked) >= readyKeyEvery {
			keyErr, checked = checkKeys(appKey, signType, alipayKey), time.Now()
		}
		err := keyErr
		mu.Unlock()
		return errors.Join(err, checkReceiver(notifyURL, routes))
	}
}

func checkKeys(appKey *rsa.PrivateKey, signType alipay.SignType, alipayKey *rsa.PublicKey) error {
	var errs []error
	if appKey == nil {
		errs = append(errs, errors.New("AP_APP_KEY: 没有应用私钥 / no app private key"))
	} else {
		sig, err := alipay.Sign(appKey, signType, readyProbe)
		if err == nil {
			err = alipay.Verify(&appKey.PublicKey, signType, readyProbe, sig)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("AP_APP_KEY: 应用私钥签出的签名无法用其公钥验证 (密钥已损坏?) / "+
				"the app private key makes no signature its public half verifies (a damaged key?): %w", err))
		}
	}
	if alipayKey == nil {
		errs = append(errs, errors.New("AP_PUB_KEY: 没有支付宝公钥, 无法验证支付宝的应答和通知 / no Alipay public key to verify Alipay's answers and notifications"))
	} else if err := alipay.CheckKeyPair("AP_PUB_KEY", appKey, alipayKey); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkReceiver: Alipay posts to AP_NOTIFY_URL, so its path must be served
// here.
func checkReceiver(notifyURL string, routes map[string]http.Handler) error {
	if notifyURL == "" {
		return nil
	}
	u, err := url.Parse(notifyURL)
	if err != nil {
		return fmt.Errorf("AP_NOTIFY_URL: 不是有效的 URL / not a valid URL: %w", err)
	}
	if routes["POST "+u.Path] == nil {
		return fmt.Errorf("AP_NOTIFY_URL: 本服务没有在路径 %q 上接收支付宝通知 / no receiver of Alipay's notifications is mounted at its path %q", u.Path, u.Path)
	}
	return nil
}
