package httpserve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/metrics"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/rpcid"
)

// Options configure a Service.
type Options struct {
	// Server is the MCP server to serve; one for the process, shared by
	// every session, so that resource updates reach all subscribers.
	Server *mcp.Server
	// Listen is the address to listen on, e.g. 127.0.0.1:8848.
	Listen string
	// PublicURL is this server's base URL as clients reach it (behind a
	// proxy: the proxy's), e.g. https://mcp.example.com. Its host is
	// allowed by the Host check; with OAuth it is required, and the
	// resource (and token audience) is PublicURL + "/mcp".
	PublicURL string
	// Tokens are the static bearer tokens.
	Tokens []Token
	// OAuth enables the OAuth 2.1 resource-server mode.
	OAuth *OAuth
	// AllowedHosts are extra Host names accepted besides the loopback names
	// and PublicURL's host; "*" accepts any.
	AllowedHosts []string
	// AllowedOrigins are browser origins (scheme://host[:port]) trusted for
	// cross-origin requests; PublicURL's origin is always trusted.
	AllowedOrigins []string
	// RateLimit is requests per second per token at /mcp, with RateBurst
	// (default: one second's worth); 0 disables the limit. Without
	// authentication (an open loopback server) there is no limit.
	RateLimit float64
	RateBurst int
	// Replica names this process among several behind one proxy
	// (AP_HTTP_REPLICA); the caller gives the MCP server SessionIDs(Replica).
	Replica string
	// TLSCert and TLSKey, both set, serve HTTPS.
	TLSCert, TLSKey string
	// Routes are extra handlers mounted without bearer authentication (the
	// payment notification receiver), keyed by http.ServeMux pattern. They
	// get the Host check, the body limit and the timeouts.
	Routes map[string]http.Handler
	// Ready are the readiness checks of /readyz.
	Ready []Check
	// Metrics, made with NewMetrics; nil makes fresh ones.
	Metrics *Metrics
	// Logger gets the service's own log lines; nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds a graceful shutdown (default 30 s): calls
	// still running then are cut off, their contexts cancelled.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's line and headers
	// (default 10 s): a client that stalls there is disconnected.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body
	// (default 30 s): a client that stalls or trickles its body is
	// disconnected. It ends with the body: once the body is read, Go's
	// server clears the connection's read deadline, so a long call
	// (wait-alipay-payment, up to 55 s) or an event stream (GET /mcp,
	// which has no body) is never cut by it. There is no write timeout,
	// for those same long answers.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request (default 2 min).
	IdleTimeout time.Duration
	// SessionTimeout closes stateful sessions idle this long (default 30 min).
	SessionTimeout time.Duration
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
}

// Check is one readiness check: nil means ready.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Service is the HTTP service. Make it with New, then Serve.
type Service struct {
	o        Options
	handler  http.Handler
	metrics  *Metrics
	authOn   bool
	calls    inflight
	draining atomic.Bool
	// cutCtx is cancelled (cut) when a shutdown reaches its deadline with
	// calls still running; every MCP request's context derives from it.
	cutCtx    context.Context
	cut       context.CancelFunc
	resource  string // PublicURL + "/mcp", "" without PublicURL
	listenTLS bool
}

const (
	defaultShutdown = 30 * time.Second
	// The timeouts of reading requests and of idle connections.
	defaultReadHeader = 10 * time.Second
	defaultRead       = 30 * time.Second
	defaultIdle       = 2 * time.Minute
	defaultSession    = 30 * time.Minute
	defaultMaxBody    = 1 << 20
	// drainGrace is how long a shutdown waits after the last call's answer
	// before it closes the sessions. The answer is already written; the
	// grace is for a client slow to read it (a loaded machine), since the Go
	// SDK's client drops pending calls when its session stream ends. It
	// only runs when calls were in flight, and stays inside ShutdownTimeout.
	drainGrace = 2 * time.Second
	// cutGrace is how long a shutdown past its deadline waits for the calls
	// it cut to return before it stops without them.
	cutGrace = time.Second
	// newProtocol is the first revision served statelessly.
	newProtocol = "2026-07-28"
)

// New checks the options and builds the handler. Off loopback it refuses to
// run without authentication.
func New(o Options) (*Service, error) {
	if o.Server == nil {
		return nil, errors.New("httpserve: no MCP server")
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdown
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = defaultSession
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = defaultReadHeader
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultRead
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdle
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBody
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o, metrics: o.Metrics, listenTLS: o.TLSCert != ""}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("--tls-cert 和 --tls-key 须同时设置 / --tls-cert and --tls-key go together")
	}
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("AP_HTTP_LISTEN / --listen %q: 应为 host:port / want host:port: %w", o.Listen, err)
	}
	loopback := isLoopbackHost(host)

	var pub *url.URL
	if o.PublicURL != "" {
		pub, err = url.Parse(o.PublicURL)
		if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" || pub.RawQuery != "" || pub.Fragment != "" {
			return nil, fmt.Errorf("AP_HTTP_PUBLIC_URL %q: 应为 http(s)://host[:port][/path] / want http(s)://host[:port][/path]", o.PublicURL)
		}
		s.resource = strings.TrimSuffix(o.PublicURL, "/") + "/mcp"
	}

	a := &authenticator{tokens: o.Tokens}
	if o.OAuth != nil {
		if pub == nil {
			return nil, errors.New("OAuth 模式需要 AP_HTTP_PUBLIC_URL (令牌的 aud 必须是本服务器的地址) / OAuth mode needs AP_HTTP_PUBLIC_URL: tokens must name this server as their audience")
		}
		iss, err := url.Parse(o.OAuth.Issuer)
		if err != nil || iss.Scheme == "" || iss.Host == "" {
			return nil, fmt.Errorf("AP_HTTP_OAUTH_ISSUER %q: 应为签发方的 URL / want the issuer's URL", o.OAuth.Issuer)
		}
		// The audience is this server: its MCP endpoint (the MCP
		// authorization spec's resource) or, as many issuers set it, its
		// base URL.
		a.jwt = newJWTVerifier(*o.OAuth, []string{s.resource, strings.TrimSuffix(o.PublicURL, "/")})
		a.metadataURL = strings.TrimSuffix(pub.Scheme+"://"+pub.Host, "/") + "/.well-known/oauth-protected-resource" + strings.TrimSuffix(pub.Path, "/") + "/mcp"
	}
	s.authOn = a.enabled()
	if !loopback && !s.authOn {
		return nil, fmt.Errorf("监听 %s 不是本机回环地址, 必须启用认证 (AP_HTTP_TOKENS、AP_HTTP_TOKENS_FILE 或 AP_HTTP_OAUTH_ISSUER) / "+
			"%s is not a loopback address: authentication is required (AP_HTTP_TOKENS, AP_HTTP_TOKENS_FILE or AP_HTTP_OAUTH_ISSUER)", o.Listen, o.Listen)
	}

	hosts := hostGuard{}
	everyAddress := host == "" || (net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified())
	switch {
	case len(o.AllowedHosts) == 1 && o.AllowedHosts[0] == "*":
	case everyAddress && pub == nil && len(o.AllowedHosts) == 0:
		// Every Host would have to be let through, or only loopback's, which
		// no client off this machine sends: neither is a safe guess.
		return nil, fmt.Errorf("监听所有地址 (%s) 时须设置 AP_HTTP_PUBLIC_URL 或 AP_HTTP_ALLOWED_HOSTS, 以检查 Host 防 DNS 重绑定 (设为 * 则不检查) / "+
			"listening on every address (%s) needs AP_HTTP_PUBLIC_URL or AP_HTTP_ALLOWED_HOSTS for the Host check against DNS rebinding (* turns it off)", o.Listen, o.Listen)
	default:
		hosts.allowed = append(hosts.allowed, loopbackNames...)
		if pub != nil {
			hosts.allowed = append(hosts.allowed, strings.ToLower(pub.Hostname()))
		}
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			// The address listened on (another loopback address such as
			// 127.0.0.2 too) is what a client there sends as its Host.
			hosts.allowed = append(hosts.allowed, host)
		}
		for _, h := range o.AllowedHosts {
			hosts.allowed = append(hosts.allowed, strings.ToLower(hostOnly(h)))
		}
	}
	trusted := o.AllowedOrigins
	if pub != nil {
		trusted = append(trusted, pub.Scheme+"://"+pub.Host)
	}
	origins, err := newOriginGuard(trusted)
	if err != nil {
		return nil, err
	}

	s.cutCtx, s.cut = context.WithCancel(context.Background())
	o.Server.AddReceivingMiddleware(scopeMiddleware(s.authOn), s.cutOff)
	so := mcp.StreamableHTTPOptions{
		// Our Host check replaces the SDK's loopback-only one, which would
		// refuse a proxy's Host header on a replica listening on loopback.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        o.MaxBodyBytes,
		Logger:                     o.Logger,
		SessionTimeout:             o.SessionTimeout,
	}
	stateful := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return o.Server }, &so)
	sl := so
	sl.Stateless = true
	stateless := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return o.Server }, &sl)
	s.metrics.sessions = func() (int, int) {
		var st, eph int
		for ss := range o.Server.Sessions() {
			if ss.ID() != "" {
				st++
			} else {
				eph++
			}
		}
		return st, eph
	}

	var mcpH http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 2026-07-28 has no sessions and is served only statelessly; every
		// older revision gets stateful sessions (server-to-client requests,
		// the GET stream for notifications). A request belongs to the new
		// protocol when it says so in Mcp-Protocol-Version and names no
		// session.
		if r.Header.Get("Mcp-Session-Id") == "" && r.Header.Get("Mcp-Protocol-Version") >= newProtocol {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	// The answer to a single request goes out in one write with the end of
	// its response.
	mcpH = holdLastFlush(mcpH)
	// Request ids come back exactly as sent (the SDK reads numeric ids
	// through float64); after authentication, so strangers fill no table.
	mcpH = rpcid.Handler(rpcid.NewMapper(), mcpH)
	mcpH = s.calls.wrap(mcpH)
	if s.authOn {
		// The limit is per token; an open loopback server has one user.
		mcpH = newLimiter(o.RateLimit, o.RateBurst, func() { s.metrics.rateLimited.Inc() }).wrap(mcpH)
		mcpH = a.middleware(func() { s.metrics.authFailed.Inc() })(mcpH)
	}
	// While draining, new calls are refused before any work (no token
	// check, no rate-limit token, no count in flight).
	mcpH = s.refuseWhileDraining(mcpH)
	mcpH = origins.wrap(mcpH)

	mux := http.NewServeMux()
	mux.Handle("/mcp", mcpH)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", metrics.ContentType)
		s.metrics.reg.Write(w)
	})
	if a.jwt != nil {
		meta := auth.ProtectedResourceMetadataHandler(resourceMetadata(s.resource, o.OAuth))
		mux.Handle("/.well-known/oauth-protected-resource", meta)
		mux.Handle("/.well-known/oauth-protected-resource"+strings.TrimSuffix(pub.Path, "/")+"/mcp", meta)
	}
	for pattern, h := range o.Routes {
		mux.Handle(pattern, h)
	}
	s.handler = hosts.wrap(bodyLimit(o.MaxBodyBytes, mux))
	return s, nil
}

// Handler is the service's whole HTTP handler (for tests that bring their
// own listener).
func (s *Service) Handler() http.Handler { return s.handler }

// Metrics are the service's metrics.
func (s *Service) Metrics() *Metrics { return s.metrics }

// AuthEnabled reports whether callers must present a token.
func (s *Service) AuthEnabled() bool { return s.authOn }

// tooLarge answers 413 for a body over limit bytes.
func tooLarge(w http.ResponseWriter, limit int64) {
	http.Error(w, fmt.Sprintf("请求体超过 %d 字节 / request body exceeds %d bytes", limit, limit), http.StatusRequestEntityTooLarge)
}

func bodyLimit(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			tooLarge(w, n)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}

// serveReady answers 200 when every check passes and the service is not
// shutting down, 503 otherwise, with each check's result as JSON.
func (s *Service) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	type result struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	res := result{Status: "ok", Checks: map[string]string{}}
	if s.draining.Load() {
		res.Status = "shutting down"
	}
	for _, c := range s.o.Ready {
		if err := c.Check(ctx); err != nil {
			res.Status = "not ready"
			res.Checks[c.Name] = err.Error()
		} else {
			res.Checks[c.Name] = "ok"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if res.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(res)
}

// Serve listens on Options.Listen and serves until ctx ends, then shuts
// down gracefully (see Shutdown). ready, when not nil, is called with the
// bound address once the listener is open.
func (s *Service) Serve(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("监听 %s 失败 / cannot listen on %s: %w", s.o.Listen, s.o.Listen, err)
	}
	return s.ServeListener(ctx, ln, ready)
}

// ServeListener is Serve on a listener the caller opened.
func (s *Service) ServeListener(ctx context.Context, ln net.Listener, ready func(addr net.Addr)) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.o.ReadHeaderTimeout,
		// ReadTimeout bounds reading a request with its body (at most
		// MaxBodyBytes); the server lifts the read deadline once the body
		// is read, so long answers are not cut. No WriteTimeout: event
		// streams are long.
		ReadTimeout:    s.o.ReadTimeout,
		IdleTimeout:    s.o.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(s.o.Logger.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		if s.listenTLS {
			errc <- hs.ServeTLS(ln, s.o.TLSCert, s.o.TLSKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return s.shutdown(hs, ln, errc)
}

// shutdown stops accepting connections, lets the calls in flight finish
// (within ShutdownTimeout), then closes every session, which ends the
// long-lived event streams, and waits for the server to stop. Calls still
// running at the deadline are cut off.
func (s *Service) shutdown(hs *http.Server, ln net.Listener, errc <-chan error) error {
	// Stop accepting: no new connection from here on, while the open ones
	// go on serving the calls in flight. Then readiness fails (readyz).
	ln.Close()
	s.draining.Store(true)
	deadline, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	s.o.Logger.Info("HTTP 服务停止: 等待进行中的调用 / http shutdown: draining", "calls_in_flight", s.calls.count())
	// Keep the connections of the calls in flight, and the idle keep-alive
	// ones of their clients, until those calls are answered: closing an
	// idle connection while a client writes its next request on it, or
	// while the answer is still unread, resets it and loses the answer; and
	// a call in flight may need its client to answer a question of the
	// server (a refund's confirmation on a stateful session) on one of
	// them, since no new connection can be opened. (So no
	// SetKeepAlivesEnabled(false) here: it closes the idle connections at
	// once.) New work is turned away meanwhile: readiness fails (readyz),
	// and a new JSON-RPC request on an open connection, such as a proxy's
	// upstream keep-alive one, is refused with 503 and Connection: close
	// (refuseWhileDraining), so the drain ends when the calls already
	// running do.
	if s.calls.count() > 0 {
		s.calls.wait(deadline)
		// The last answers are written; give clients a moment to read
		// them before their sessions' event streams end, which some
		// clients (the Go SDK's) take as the end of the session, pending
		// calls included.
		select {
		case <-time.After(drainGrace):
		case <-deadline.Done():
		}
	}
	if s.calls.count() > 0 && deadline.Err() != nil {
		// The deadline came first: cut the calls still running, so that
		// their sessions can close (a session's Close waits for its
		// handlers) and their clients get an error, not silence.
		s.o.Logger.Warn("HTTP 服务停止: 到期仍有调用在运行, 将其中断 / http shutdown: calls still running at the deadline; cutting them off", "calls_in_flight", s.calls.count())
		s.cut()
	}
	done := make(chan error, 1)
	go func() { done <- hs.Shutdown(deadline) }()
	// Every session at once: one still busy must not keep the others'
	// event streams (and so hs.Shutdown) waiting.
	var sessions sync.WaitGroup
	for ss := range s.o.Server.Sessions() {
		sessions.Go(func() { ss.Close() })
	}
	closed := make(chan struct{})
	go func() { sessions.Wait(); close(closed) }()
	err := <-done
	if errors.Is(err, net.ErrClosed) {
		// Shutdown closes the listeners the server still tracks, and ours
		// is closed already (above) when the accept loop has not yet seen
		// it: that second close's error is not a failure. Shutdown has
		// still waited for the connections.
		err = nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.o.Logger.Warn("HTTP 服务停止: 到期仍有连接忙碌, 强制关闭 / http shutdown: connections still busy at the deadline; closing", "calls_in_flight", s.calls.count())
		s.cut()
		hs.Close()
		err = nil
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	// A cut call ends on its cancelled context; one that ignores it is
	// not waited for long.
	select {
	case <-closed:
	case <-time.After(cutGrace):
		s.o.Logger.Warn("HTTP 服务停止: 有调用未响应取消, 不再等待 / http shutdown: a call ignored its cancellation; stopping without it")
	}
	return err
}

// drainRefusal is the body of a request refused while draining.
const drainRefusal = "服务器正在停止, 不再接受新的请求, 请稍后重试 (将连到其他实例) / " +
	"the server is shutting down and takes no new requests; retry shortly (another replica will answer)\n"

// refuseWhileDraining answers a new JSON-RPC request at /mcp with 503,
// Retry-After and Connection: close once a shutdown has begun, so that no
// call starts during the drain (a client or proxy that kept an idle
// keep-alive connection would otherwise go on starting them until the
// deadline). What a call in flight may still need passes: POSTs holding
// only responses (a client's answer to the server's question, such as a
// refund's confirmation) or notifications (notifications/cancelled), and
// every GET and DELETE.
func (s *Service) refuseWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !s.draining.Load() || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var maxErr *http.MaxBytesError
		switch {
		case errors.As(err, &maxErr):
			tooLarge(w, maxErr.Limit)
			return
		case err != nil:
			// Cut short: refused as it would be anyway.
			http.Error(w, "读取请求失败 / reading the request failed", http.StatusBadRequest)
			return
		}
		if startsWork(body) {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			http.Error(w, drainRefusal, http.StatusServiceUnavailable)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// startsWork reports whether a JSON-RPC body (one message or a batch)
// would start new work: it holds at least one request (a message with a
// method and a non-null id) and no response, which is what a call in flight
// may be waiting for. Notifications alone start nothing; beside a request
// they do not save the batch. Anything that is not JSON-RPC is left to the
// handler to refuse.
func startsWork(body []byte) bool {
	type message struct {
		Method *string         `json:"method"`
		ID     json.RawMessage `json:"id"`
	}
	isRequest := func(m message) bool {
		return m.Method != nil && len(m.ID) > 0 && string(m.ID) != "null"
	}
	isResponse := func(m message) bool { return m.Method == nil }
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return false
	}
	if body[0] == '[' {
		var batch []message
		if json.Unmarshal(body, &batch) != nil || len(batch) == 0 {
			return false
		}
		requests := false
		for _, m := range batch {
			if isResponse(m) {
				return false
			}
			requests = requests || isRequest(m)
		}
		return requests
	}
	var m message
	return json.Unmarshal(body, &m) == nil && isRequest(m)
}

// cutOff is receiving middleware that derives every request's context from
// the service's cut-off, so that a shutdown past its deadline cancels the
// calls still running.
func (s *Service) cutOff(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.cutCtx, cancel)()
		return next(ctx, method, req)
	}
}

// inflight counts the POSTs to /mcp in progress, except 2026-07-28
// subscriptions/listen streams, which never finish on their own (the SDK
// checks that Mcp-Method matches the body). A POST ends when its answers
// are written, so a graceful shutdown that waits for them loses none.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to zero; nil while n == 0
}

func (f *inflight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Mcp-Method") == "subscriptions/listen" {
			next.ServeHTTP(w, r)
			return
		}
		f.add(1)
		defer f.add(-1)
		next.ServeHTTP(w, r)
	})
}

func (f *inflight) add(d int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 && d > 0 {
		f.zero = make(chan struct{})
	}
	f.n += d
	if f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
}

func (f *inflight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// wait returns when no call is in flight or ctx ends.
func (f *inflight) wait(ctx context.Context) {
	for {
		f.mu.Lock()
		z := f.zero
		f.mu.Unlock()
		if z == nil {
			return
		}
		select {
		case <-z:
		case <-ctx.Done():
			return
		}
	}
}
