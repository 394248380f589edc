package paidhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
)

// The README's three verifiers of a generic delivery (Go, Node, shell with
// openssl) are checked here against real signed requests: the Go one is
// this file's verifyPaidWebhook, the Node one interop/paidhook-verify.mjs,
// the shell one is run from the README's text. Each must be in the README
// verbatim, so the README cannot drift from what is tested.

// BEGIN README
// verifyPaidWebhook checks a paid notification before you act on it.
// header is the X-Alipay-MCP-Signature value, body the raw request body.
func verifyPaidWebhook(secret, header string, body []byte, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("missing signature")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("stale timestamp: a replay, or a wrong clock")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return errors.New("bad signature")
	}
	return nil
}

// END README

// between returns the text between the BEGIN README and END README lines
// of a file.
func between(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "// BEGIN README\n")
	body, _, ok2 := strings.Cut(rest, "// END README")
	if !ok || !ok2 {
		t.Fatalf("%s has no BEGIN/END README markers", path)
	}
	return strings.TrimSpace(body)
}

// readmeBlock returns the fenced block that follows <!-- marker --> in the
// README.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- "+marker+" -->\n```")
	if !ok {
		t.Fatalf("README has no <!-- %s --> block", marker)
	}
	_, rest, _ = strings.Cut(rest, "\n") // the fence's language
	block, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatalf("README's %s block is not closed", marker)
	}
	return strings.TrimSpace(block)
}

// signedRequest is a real delivery to a generic endpoint: the header and
// body the sender's request carries.
func signedRequest(t *testing.T) (header string, body []byte) {
	t.Helper()
	tg := mustTarget(t, "https://shop.example/hooks/paid", testSecret)
	req, err := tg.request(t.Context(), testEvent(30), 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := req.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	body = make([]byte, req.ContentLength)
	if _, err := b.Read(body); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get(HeaderSignature), body
}

func tampered(body []byte) []byte {
	return []byte(strings.Replace(string(body), `"amount":"12.64"`, `"amount":"99.99"`, 1))
}

func TestReadmeGoVerifier(t *testing.T) {
	if got, want := readmeBlock(t, "verify-go"), between(t, "readme_test.go"); got != want {
		t.Fatalf("the README's Go verifier is not readme_test.go's verifyPaidWebhook:\n--- README\n%s\n--- test\n%s", got, want)
	}
	header, body := signedRequest(t)
	if err := verifyPaidWebhook(testSecret, header, body, time.Now()); err != nil {
		t.Errorf("a real delivery: %v", err)
	}
	if string(tampered(body)) == string(body) {
		t.Fatal("tampering changed nothing")
	}
	for name, err := range map[string]error{
		"tampered":     verifyPaidWebhook(testSecret, header, tampered(body), time.Now()),
		"wrong secret": verifyPaidWebhook("not-the-secret-0123", header, body, time.Now()),
		"replayed":     verifyPaidWebhook(testSecret, header, body, time.Now().Add(10*time.Minute)),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReadmeNodeVerifier(t *testing.T) {
	if got, want := readmeBlock(t, "verify-node"), between(t, "../../interop/paidhook-verify.mjs"); got != want {
		t.Fatalf("the README's Node verifier is not interop/paidhook-verify.mjs's:\n--- README\n%s\n--- script\n%s", got, want)
	}
	header, body := signedRequest(t)
	t.Setenv("SECRET", testSecret)
	if out := nodeinterop.Run(t, "paidhook-verify.mjs", body, header); strings.TrimSpace(string(out)) != "valid" {
		t.Errorf("node says %q for a real delivery", out)
	}
	out, _, err := nodeinterop.RunErr(t, "paidhook-verify.mjs", tampered(body), header)
	if err == nil || strings.TrimSpace(string(out)) != "INVALID" {
		t.Errorf("node says %q (%v) for a tampered body", out, err)
	}
}

func TestReadmeShellVerifier(t *testing.T) {
	script := readmeBlock(t, "verify-shell")
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed under CI", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	header, body := signedRequest(t)
	run := func(body []byte) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SECRET="+testSecret, "HEADER="+header)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the README's shell verifier: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(body); got != "valid" {
		t.Errorf("shell says %q for a real delivery", got)
	}
	if got := run(tampered(body)); got != "INVALID" {
		t.Errorf("shell says %q for a tampered body", got)
	}
}
