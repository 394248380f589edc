package tools

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// confirmClaims is what a request state binds: the refund the user is asked
// about, a nonce that makes the state good for one answer, and when the
// question expires.
type confirmClaims struct {
	OutTradeNo   string `json:"o"`
	OutRequestNo string `json:"r"`
	Fen          int64  `json:"a"`
	Reason       string `json:"why,omitempty"`
	Nonce        string `json:"n,omitempty"`   // random; set by seal
	Expires      int64  `json:"exp,omitempty"` // Unix seconds; set by seal
}

func claimsOf(r alipay.RefundRequest) confirmClaims {
	return confirmClaims{OutTradeNo: r.OutTradeNo, OutRequestNo: r.OutRequestNo, Fen: int64(r.RefundAmount), Reason: r.RefundReason}
}

var (
	errStateInvalid  = errors.New("request state invalid")
	errStateExpired  = errors.New("request state expired")
	errStateMismatch = errors.New("request state does not match the arguments")
)

// stateSealer signs request states with HMAC-SHA256 under a key that lives
// only in this process. The state travels through the client, so it is
// signed (the spec's "encrypt, sign and verify"); it holds nothing secret,
// only the refund's own arguments and a nonce, so it is not encrypted.
type stateSealer struct {
	key []byte
	now func() time.Time
}

// refundStates is the process's sealer when no AP_STATE_KEY is set; its key
// is random per process.
var refundStates = newStateSealer()

// sealer is the sealer of d's server: under AP_STATE_KEY when set, so that a
// question one replica asks is judged by whichever replica the answer
// reaches; else the process's own.
func (d Deps) sealer() *stateSealer {
	if len(d.StateKey) == 0 {
		return refundStates
	}
	// A key of its own for this use, derived from AP_STATE_KEY: the
	// operator's key itself signs nothing.
	h := hmac.New(sha256.New, d.StateKey)
	h.Write([]byte("mcp-server-alipay refund confirmation state key"))
	return &stateSealer{key: h.Sum(nil), now: time.Now}
}

// AnswerBook spends the one answer of each refund confirmation for every
// process sharing the ledger: the first to take a nonce's lease (which no
// one renews, and which lasts until the state expires) judges the answer,
// and a replay on any replica is refused. *ledger.Account satisfies it.
type AnswerBook interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
}

// errAnswerUnrecorded: the ledger could not record that an answer was
// spent, so it is not taken (fail closed).
var errAnswerUnrecorded = errors.New("the ledger could not record the answer")

// consumeAnswer marks a state's nonce answered until exp: in the ledger
// when d.Answers is set (several replicas), else in this process. It
// reports false if the nonce was answered before.
func (d Deps) consumeAnswer(ctx context.Context, nonce string, exp time.Time) (bool, error) {
	if d.Answers == nil {
		return refundAnswers.consume(nonce, exp)
	}
	ttl := time.Until(exp) + time.Minute // outlives the state, whatever the clocks
	ok, err := d.Answers.AcquireLease(ctx, "refund-answer:"+nonce, rand.Text(), ttl)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errAnswerUnrecorded, err)
	}
	return ok, nil
}

func newStateSealer() *stateSealer {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand, Go ≥ 1.24)
	return &stateSealer{key: key, now: time.Now}
}

const stateVersion = "v1"

// seal returns "v1.<payload>.<mac>", both base64url, with c given a fresh
// nonce and expiring confirmTTL from now.
func (s *stateSealer) seal(c confirmClaims) string {
	c.Nonce = rand.Text()
	c.Expires = s.now().Add(confirmTTL).Unix()
	payload, err := json.Marshal(c)
	if err != nil {
		// Strings and integers always marshal.
		panic(fmt.Sprintf("tools: marshal request state: %v", err))
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return stateVersion + "." + p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

// open verifies state and that it binds want (Nonce and Expires ignored),
// and returns its claims.
func (s *stateSealer) open(state string, want confirmClaims) (confirmClaims, error) {
	v, rest, ok := strings.Cut(state, ".")
	p, m, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || v != stateVersion {
		return confirmClaims{}, errStateInvalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !hmac.Equal(mac, s.mac(p)) {
		return confirmClaims{}, errStateInvalid
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return confirmClaims{}, errStateInvalid
	}
	var got confirmClaims
	if err := json.Unmarshal(payload, &got); err != nil || got.Nonce == "" {
		return confirmClaims{}, errStateInvalid
	}
	if !s.now().Before(time.Unix(got.Expires, 0)) {
		return confirmClaims{}, errStateExpired
	}
	cmp := got
	cmp.Nonce, cmp.Expires, want.Nonce, want.Expires = "", 0, "", 0
	if cmp != want {
		return confirmClaims{}, errStateMismatch
	}
	return got, nil
}

func (s *stateSealer) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("mcp-server-alipay refund confirmation " + stateVersion + "\x00"))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// maxAnswered bounds the answered-nonce set. Each entry stands for a
// question asked (a trade query and a refund query at Alipay) and answered
// within confirmTTL, so a legitimate server never comes near it.
const maxAnswered = 4096

var errTooManyAnswers = errors.New("too many confirmations answered in the last 10 minutes")

// answeredSet remembers the nonces of request states that have been
// answered, until the states expire, so that each state is good for one
// answer: a "no" cannot be replayed as a "yes".
type answeredSet struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	until map[string]time.Time // nonce → when its state expires
}

// refundAnswers is the process's answered set; the sealer's key dies with
// the process, and so do the states this set guards.
var refundAnswers = &answeredSet{max: maxAnswered, now: time.Now, until: map[string]time.Time{}}

// consume marks nonce answered until its state expires at exp. It reports
// false if the nonce was answered before; errTooManyAnswers when the set is
// full (fail closed: an answer that cannot be remembered is not taken).
func (a *answeredSet) consume(nonce string, exp time.Time) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, seen := a.until[nonce]; seen {
		return false, nil
	}
	if len(a.until) >= a.max {
		now := a.now()
		for n, t := range a.until {
			if !now.Before(t) {
				delete(a.until, n)
			}
		}
		if len(a.until) >= a.max {
			return false, errTooManyAnswers
		}
	}
	a.until[nonce] = exp
	return true, nil
}
