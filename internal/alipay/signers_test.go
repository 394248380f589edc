package alipay

import (
	"crypto/rsa"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestSignersConcurrent: many callers at once, two keys, both sign types:
// each gets the signature of its own content under its own key (each one
// verifies), as when it signed on its own goroutine. The known answers of
// TestSignKnownAnswers go through the signers too.
func TestSignersConcurrent(t *testing.T) {
	var keys []*rsa.PrivateKey
	for _, name := range []string{"app-private-key.pem", "test-alipay-private-key.pem"} {
		k, err := ParsePrivateKey("test", mustRead(t, name))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	var wg sync.WaitGroup
	for i := range 48 {
		wg.Go(func() {
			key := keys[i%2]
			st := []SignType{RSA2, RSA}[i/2%2]
			content := []byte(fmt.Sprintf("out_trade_no=T%03d&total_amount=%d.00", i, i))
			sig, err := Sign(key, st, content)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			if err := Verify(&key.PublicKey, st, content, sig); err != nil {
				t.Errorf("caller %d: its signature does not verify: %v", i, err)
			}
			if err := Verify(&keys[(i+1)%2].PublicKey, st, content, sig); err == nil {
				t.Errorf("caller %d: signed under the other key", i)
			}
		})
	}
	wg.Wait()
}

// A signature that panics (no key) is its caller's error, and the signers
// carry on.
func TestSignersSurvivePanic(t *testing.T) {
	if _, err := Sign(nil, RSA2, []byte("x")); err == nil || !strings.Contains(err.Error(), "签名失败 / signing failed") {
		t.Errorf("Sign(nil key) = %v, want a signing error", err)
	}
	key, err := ParsePrivateKey("test", mustRead(t, "app-private-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for range 8 { // more than one signer's worth
		if _, err := Sign(key, RSA2, []byte("x")); err != nil {
			t.Fatalf("after a panic: %v", err)
		}
	}
}

// When GOMAXPROCS grows, the next signature starts the signers it lacks.
func TestSignersFollowGOMAXPROCS(t *testing.T) {
	key, err := ParsePrivateKey("test", mustRead(t, "app-private-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(key, RSA2, []byte("x")); err != nil {
		t.Fatal(err)
	}
	more := int(signers.Load()) + 2
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(more))
	if _, err := Sign(key, RSA2, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := int(signers.Load()); n < more {
		t.Errorf("%d signers with GOMAXPROCS %d", n, more)
	}
}
