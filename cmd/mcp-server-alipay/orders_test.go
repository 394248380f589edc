package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/ledger"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// TestOrdersRelativeDataDir: orders resolves a relative --data-dir or
// AP_LOCAL_DATA_DIR against the current directory and says so on stderr,
// as sandbox, doctor and the server do.
func TestOrdersRelativeDataDir(t *testing.T) {
	wd := t.TempDir()
	abs := filepath.Join(wd, "rel-data")
	s, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: abs, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	t.Chdir(wd)
	db := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(context.Background(), ledger.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, tc := range []struct {
		name, from string
		args       []string
		env        map[string]string
	}{
		{"flag", "--data-dir", []string{"--data-dir", "rel-data"}, nil},
		{"variable", "AP_LOCAL_DATA_DIR", nil, map[string]string{"AP_LOCAL_DATA_DIR": "rel-data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"AP_CURRENT_ENV": "local", "AP_DATABASE_URL": db}
			for k, v := range tc.env {
				env[k] = v
			}
			var out, errOut bytes.Buffer
			code := runOrders(context.Background(), tc.args, func(k string) string { return env[k] }, &out, &errOut)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut.String())
			}
			for _, w := range []string{tc.from, "相对路径", "is relative", abs} {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(abs, "identity.json")); err != nil {
		t.Fatal(err)
	}
}

// TestCSVCell: a cell a spreadsheet would take for a formula starts with an
// apostrophe; others are unchanged.
func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("https://evil.example","退款")`: `'=HYPERLINK("https://evil.example","退款")`,
		"+1+1":        "'+1+1",
		"-2+3":        "'-2+3",
		"@SUM(A1:A2)": "'@SUM(A1:A2)",
		"\t=1":        "'\t=1",
		"\r=1":        "'\r=1",
		"插画 = 1":      "插画 = 1",
		"T-1":         "T-1",
		"":            "",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}
