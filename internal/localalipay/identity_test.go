package localalipay_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
