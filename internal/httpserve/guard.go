package httpserve

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/time/rate"
)

// hostGuard refuses requests whose Host is not one of ours: a web page on
// a rebound DNS name reaches our address but cannot make its Host ours.
// A nil list allows any host.
type hostGuard struct{ allowed []string } // lower-case host names, no ports

func (g hostGuard) ok(hostport string) bool {
	if g.allowed == nil {
		return true
	}
	return slices.Contains(g.allowed, strings.ToLower(hostOnly(hostport)))
}

func (g hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.ok(r.Host) {
			http.Error(w, fmt.Sprintf("Host %q 不在允许列表中 / Host %q is not allowed (AP_HTTP_ALLOWED_HOSTS)", r.Host, r.Host), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostOnly strips the port and IPv6 brackets of a Host value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// loopbackNames are the host names of this machine's loopback.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// isLoopbackHost reports whether a listen host is loopback only. An empty
// host (":8848") listens on every interface.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// originGuard applies Go's cross-origin protection (Sec-Fetch-Site, then
// Origin against Host and the trusted origins) to every method, GET
// included: the MCP transport spec asks servers to validate Origin on all
// connections, and a browser page of another origin must not even open an
// event stream.
type originGuard struct{ cop *http.CrossOriginProtection }

func newOriginGuard(trusted []string) (originGuard, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return originGuard{}, fmt.Errorf("AP_HTTP_ALLOWED_ORIGINS: %q: %w", o, err)
		}
	}
	return originGuard{cop: cop}, nil
}

func (g originGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probe := r
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			probe = r.Clone(r.Context())
			probe.Method = http.MethodPost // CrossOriginProtection lets safe methods through
		}
		if err := g.cop.Check(probe); err != nil {
			http.Error(w, "跨源请求被拒绝 / cross-origin request refused (AP_HTTP_ALLOWED_ORIGINS)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limiter is a token bucket per caller (TokenInfo.UserID). Over the limit a request gets 429 and
// Retry-After, and spends nothing.
type limiter struct {
	every rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*bucket
	onHit func()
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// maxBuckets bounds the limiter's memory; idle buckets are swept first.
const maxBuckets = 10000

func newLimiter(perSecond float64, burst int, onHit func()) *limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return &limiter{every: rate.Limit(perSecond), burst: burst, m: map[string]*bucket{}, onHit: onHit}
}

func (l *limiter) wrap(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := ""
		if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
			key = ti.UserID
		}
		if wait := l.reserve(key, time.Now()); wait > 0 {
			if l.onHit != nil {
				l.onHit()
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, "请求过于频繁, 请稍后再试 / too many requests; retry after the time in Retry-After", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// reserve takes a token for key, or returns how long until one is free.
func (l *limiter) reserve(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok {
		if len(l.m) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{l: rate.NewLimiter(l.every, l.burst)}
		l.m[key] = b
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// sweep drops buckets that are full again (idle long enough to forget);
// when none are, the oldest half goes.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.m {
		if b.l.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
	if len(l.m) < maxBuckets {
		return
	}
	type kv struct {
		k string
		t time.Time
	}
	all := make([]kv, 0, len(l.m))
	for k, b := range l.m {
		all = append(all, kv{k, b.seen})
	}
	slices.SortFunc(all, func(a, b kv) int { return a.t.Compare(b.t) })
	for _, e := range all[:len(all)/2] {
		delete(l.m, e.k)
	}
}
