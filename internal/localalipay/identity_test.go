package localalipay_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// TestDamagedIdentity: a damaged identity.json stops Start with an error
// that names the file, says what to do, and wraps the cause.
func TestDamagedIdentity(t *testing.T) {
	cases := []struct {
		name, content string
		cause         func(error) bool
	}{
		{"not JSON", `{"app_id":`, func(err error) bool {
			var se *json.SyntaxError
			return errors.As(err, &se)
		}},
		{"wrong type", `{"app_id":5}`, func(err error) bool {
			var te *json.UnmarshalTypeError
			return errors.As(err, &te)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "identity.json"), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: dir})
			if err == nil {
				s.Close()
				t.Fatal("started with a damaged identity.json")
			}
			if !tc.cause(err) {
				t.Errorf("the cause is not wrapped: %v", err)
			}
			for _, want := range []string{"identity.json", "已损坏", "delete the data directory"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestClientConfig: the credentials make a client config for the local test
// app, and a damaged key is an error naming it, without its text.
func TestClientConfig(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	c := srv.Credentials()
	cfg, err := c.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AppID != c.AppID || cfg.GatewayURL != c.GatewayURL || cfg.SignType != alipay.RSA2 {
		t.Errorf("config %q %q %q, want the credentials' app id and gateway with RSA2", cfg.AppID, cfg.GatewayURL, cfg.SignType)
	}
	// The gateway accepts the app's signature and the client verifies
	// Alipay's: the answer is Alipay's "no such trade", not a signature error.
	cl, err := alipay.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Query(ctxT(t), "CC-NONE"); !alipay.IsSubCode(err, alipay.SubTradeNotExist) {
		t.Errorf("query with the config: %v, want %s", err, alipay.SubTradeNotExist)
	}

	for _, damage := range []func(*localalipay.Credentials){
		func(c *localalipay.Credentials) { c.AppPrivateKey = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" },
		func(c *localalipay.Credentials) { c.AlipayPublicKey = c.AppPrivateKey },
	} {
		bad := c
		damage(&bad)
		_, err := bad.ClientConfig()
		if err == nil {
			t.Fatal("a damaged key made a config")
		}
		if !strings.Contains(err.Error(), "local Alipay") {
			t.Errorf("error %q does not name the local Alipay key", err)
		}
		if strings.Contains(err.Error(), "MIIE") {
			t.Errorf("error quotes key text: %q", err)
		}
	}
}
