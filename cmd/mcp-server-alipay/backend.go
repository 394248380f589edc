package main

import (
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// backend is the Alipay the tools talk to: a client, plus the in-process
// local Alipay in local mode.
type backend struct {
	client *alipay.Client
	// watchClient is the same Alipay with one attempt per call: the
	// payment watch has its own schedule and breaker, and must not
	// multiply its queries against a failing gateway.
	watchClient *alipay.Client
	local       *localalipay.Server // nil unless AP_CURRENT_ENV=local
	dataDir     string              // local mode only
	// alipayKey verifies what Alipay signs (answers, notifications): the
	// local Alipay's key in local mode.
	alipayKey *rsa.PublicKey
	// sellerID is the seller Alipay's notifications must name:
	// AP_SELLER_ID, or the local Alipay's; empty means the receiver pins
	// the first it accepts.
	sellerID string
	// appKey and signType sign requests (the local Alipay's app key in
	// local mode); /readyz checks them.
	appKey   *rsa.PrivateKey
	signType alipay.SignType
	// trades is the trade-number book both clients share; serve gives it
	// the ledger as its fallback (ledgerTrades).
	trades *alipay.TradeBook
}

func (b *backend) Close() error {
	if b.local != nil {
		return b.local.Close()
	}
	return nil
}

// newBackend builds the client from cfg. In local mode it first starts the
// local Alipay on its well-known address, or on a free port when another
// process (a second client window) already holds it; both share one data
// directory and so one state.
func newBackend(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*backend, error) {
	ac := alipay.Config{
		AppID:           cfg.AppID,
		PrivateKey:      cfg.PrivateKey,
		AlipayPublicKey: cfg.AlipayPublicKey,
		SignType:        cfg.SignType,
		GatewayURL:      cfg.GatewayURL,
		AppAuthToken:    cfg.AppAuthToken,
		ReturnURL:       cfg.ReturnURL,
		NotifyURL:       cfg.NotifyURL,
	}
	b := &backend{sellerID: cfg.SellerID}
	if cfg.Env == config.Local {
		dir, err := localDataDir(cfg)
		if err != nil {
			return nil, err
		}
		b.dataDir = dir
		opts := localalipay.Options{DataDir: dir, Addr: localalipay.DefaultAddr, Logger: logger}
		s, err := localalipay.Start(ctx, opts)
		if err != nil {
			opts.Addr = "127.0.0.1:0"
			var err2 error
			if s, err2 = localalipay.Start(ctx, opts); err2 != nil {
				return nil, fmt.Errorf("启动本地支付宝失败 / cannot start the local Alipay: %w", err2)
			}
		}
		b.local = s
		b.sellerID = s.Credentials().SellerID
		lc, err := s.Credentials().ClientConfig()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("本地支付宝密钥 / local Alipay keys in %s: %w", dir, err)
		}
		lc.AppAuthToken, lc.ReturnURL, lc.NotifyURL = ac.AppAuthToken, ac.ReturnURL, ac.NotifyURL
		ac = lc
	}
	// The tools' client and the watcher's share what they learn of each
	// order's trade number, so an answer naming another is refused by both.
	ac.Trades = alipay.NewTradeBook(0)
	b.trades = ac.Trades
	c, err := alipay.NewClient(ac)
	if err != nil {
		b.Close()
		return nil, err
	}
	ac.MaxAttempts = 1
	if b.watchClient, err = alipay.NewClient(ac); err != nil {
		b.Close()
		return nil, err
	}
	b.client, b.alipayKey = c, ac.AlipayPublicKey
	b.appKey, b.signType = ac.PrivateKey, ac.SignType
	return b, nil
}

// localDataDir is AP_LOCAL_DATA_DIR (made absolute by config.Load), or the
// local Alipay's default.
func localDataDir(cfg *config.Config) (string, error) {
	if cfg.LocalDataDir != "" {
		return cfg.LocalDataDir, nil
	}
	return localalipay.DefaultDataDir()
}

// logFilePath is where AP_LOG_ENABLED writes: $HOME/mcp-server-alipay.log.
func logFilePath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "mcp-server-alipay.log"), nil
}
