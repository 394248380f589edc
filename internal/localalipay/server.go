package localalipay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// DefaultAddr is the well-known local address of the sandbox command.
const DefaultAddr = "127.0.0.1:8849"

// DefaultTimestampSkew is how far a request's timestamp may be from Beijing
// time.
const DefaultTimestampSkew = 15 * time.Minute

// Options configure Start.
type Options struct {
	DataDir string // keys and the SQLite database live here; required
	Addr    string // "" = "127.0.0.1:0" (a random port)
	// NotifySchedule are the retry intervals after the first, immediate
	// attempt; nil = DefaultNotifySchedule (4m,10m,10m,1h,2h,6h,15h).
	NotifySchedule []time.Duration
	Logger         *slog.Logger     // nil = discard
	Now            func() time.Time // nil = time.Now
	// TimestampSkew is the allowed distance of a request's timestamp from
	// Beijing time; 0 = DefaultTimestampSkew.
	TimestampSkew time.Duration
	// PortPoll is how often the server looks for ports of its data
	// directory whose process has exited, to serve their links (see
	// ports.go); 0 = DefaultPortPoll, negative = never.
	PortPoll time.Duration
}

// Credentials are the settings a client needs to talk to this Alipay.
type Credentials struct {
	AppID           string // "local-2021…": recognisably not a real app id
	AppPrivateKey   string // one-line base64 PKCS#8 of the LOCAL test app, usable as AP_APP_KEY
	AlipayPublicKey string // one-line base64 SPKI, usable as AP_PUB_KEY
	GatewayURL      string // "http://127.0.0.1:<port>/gateway.do"
	SellerID        string // "2088…": the merchant every trade here pays (seller_id of its notifications)
}

// ClientConfig is the alipay.Config of a client of this Alipay as its test
// app: app id, both keys parsed, RSA2 and the gateway URL. The caller adds
// the rest (timeouts, attempts, return and notify URLs).
func (c Credentials) ClientConfig() (alipay.Config, error) {
	priv, err := alipay.ParsePrivateKey("local Alipay app key", c.AppPrivateKey)
	if err != nil {
		return alipay.Config{}, fmt.Errorf("local Alipay credentials: %w", err)
	}
	pub, err := alipay.ParsePublicKey("local Alipay public key", c.AlipayPublicKey)
	if err != nil {
		return alipay.Config{}, fmt.Errorf("local Alipay credentials: %w", err)
	}
	return alipay.Config{AppID: c.AppID, PrivateKey: priv, AlipayPublicKey: pub, SignType: alipay.RSA2, GatewayURL: c.GatewayURL}, nil
}

// Server is a running local Alipay.
type Server struct {
	opts         Options
	log          *slog.Logger
	now          func() time.Time
	skew         time.Duration
	schedule     []time.Duration
	poll         time.Duration
	id           *identity
	st           *store
	ln           net.Listener
	http         *http.Server
	url          string
	handler      http.Handler
	faults       faultSet
	instance     string
	wake         chan struct{}
	notifyClient *http.Client
	pinned       pinnedCerts // serving certificates trusted for notifications
	cancel       context.CancelFunc
	notifierDone chan struct{}
	serveDone    chan struct{}
	ports        portSet
	portsDone    chan struct{}
	closeOnce    sync.Once
	closeErr     error
}

// DefaultDataDir is $XDG_DATA_HOME/mcp-server-alipay/local, or
// ~/.local/share/mcp-server-alipay/local.
func DefaultDataDir() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "mcp-server-alipay", "local"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory for the local Alipay data: %w", err)
	}
	return filepath.Join(home, ".local", "share", "mcp-server-alipay", "local"), nil
}

// Start loads or creates the keys in opts.DataDir (files 0600, directory
// 0700), opens the database, listens on opts.Addr and starts the notifier,
// which first sends notifications that fell due while nothing was running.
// If the address is taken the error wraps the listener's error
// (errors.Is(err, syscall.EADDRINUSE)).
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("local alipay: 需要数据目录 / Options.DataDir is required")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("local alipay: create data directory: %w", err)
	}
	s := &Server{
		opts:         opts,
		log:          opts.Logger,
		now:          opts.Now,
		skew:         opts.TimestampSkew,
		schedule:     slices.Clone(opts.NotifySchedule),
		instance:     strconv.Itoa(os.Getpid()) + "-" + randomHex(8),
		wake:         make(chan struct{}, 1),
		notifierDone: make(chan struct{}),
		serveDone:    make(chan struct{}),
		portsDone:    make(chan struct{}),
		ports:        portSet{held: map[int]net.Listener{}},
	}
	s.notifyClient = s.newNotifyClient()
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.skew <= 0 {
		s.skew = DefaultTimestampSkew
	}
	if opts.NotifySchedule == nil {
		s.schedule = slices.Clone(DefaultNotifySchedule)
	}
	s.poll = time.Second
	for _, d := range s.schedule {
		if d > 0 && d < s.poll {
			s.poll = d
		}
	}
	var err error
	if s.id, err = loadOrCreateIdentity(opts.DataDir); err != nil {
		return nil, fmt.Errorf("local alipay: %w", err)
	}
	if s.st, err = openStore(ctx, opts.DataDir); err != nil {
		return nil, fmt.Errorf("local alipay: %w", err)
	}
	s.st.committed = s.kick
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	if s.ln, err = lc.Listen(ctx, "tcp", addr); err != nil {
		s.st.close()
		return nil, fmt.Errorf("local alipay: listen on %s: %w", addr, err)
	}
	s.url = "http://" + displayAddr(s.ln.Addr())
	s.handler = s.routes()
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.serveDone)
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("本地支付宝: 服务出错 / local alipay: serve", "err", err)
		}
	}()
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	go s.runNotifier(nctx)
	if ta, ok := s.ln.Addr().(*net.TCPAddr); ok && (ta.IP.IsUnspecified() || ta.IP.Equal(net.IPv4(127, 0, 0, 1))) {
		s.recordPort(ta.Port)
	}
	poll := opts.PortPoll
	if poll == 0 {
		poll = DefaultPortPoll
	}
	go func() {
		defer close(s.portsDone)
		if poll > 0 {
			s.takeOverPorts(nctx, poll)
		}
	}()
	s.log.Info("本地支付宝已启动 / local alipay started", "url", s.url, "data_dir", opts.DataDir, "app_id", s.id.AppID)
	return s, nil
}

// displayAddr turns a listener address into one a client on this machine
// can dial: an unspecified IP becomes loopback.
func displayAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// Credentials returns the settings a client needs (AP_APP_ID, AP_APP_KEY,
// AP_PUB_KEY, AP_GATEWAY_URL). The private key is that of a LOCAL test app.
func (s *Server) Credentials() Credentials {
	return Credentials{
		AppID:           s.id.AppID,
		AppPrivateKey:   s.id.AppPrivateKey,
		AlipayPublicKey: s.id.alipayPublicKey,
		GatewayURL:      s.url + "/gateway.do",
		SellerID:        s.id.SellerID,
	}
}

// port is the TCP port this server listens on.
func (s *Server) port() string {
	if ta, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return strconv.Itoa(ta.Port)
	}
	return ""
}

// URL is the base URL, "http://127.0.0.1:<port>".
func (s *Server) URL() string { return s.url }

// DataDir is where the keys and the database live.
func (s *Server) DataDir() string { return s.opts.DataDir }

// Handler serves the gateway, the cashier pages and the /_local/ control API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the listener and the notifier and closes the database.
// Notifications not yet delivered stay in the database for the next Start.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// Let requests in flight finish briefly, then cut the rest (a client
		// may hold a dialled but unused connection, which Shutdown would
		// wait 5s for).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		if s.http.Shutdown(ctx) != nil {
			err = s.http.Close()
		}
		s.cancel()
		<-s.notifierDone
		<-s.portsDone
		s.closePorts()
		<-s.serveDone
		s.releaseLeases()
		s.closeErr = errors.Join(err, s.st.close())
	})
	return s.closeErr
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/gateway.do", s.handleGateway)
	mux.HandleFunc("GET /cashier/m", s.handleMobileCashier)
	mux.HandleFunc("POST /cashier/pay", s.handlePay)
	mux.HandleFunc("GET /cashier/paid", s.handlePaid)
	mux.HandleFunc("GET "+qrPath+"{code}", s.handleQR)
	s.controlRoutes(mux)
	mux.HandleFunc("/", s.handleIndex)
	return recoverer(s.log, mux)
}

// recoverer turns a panic into a logged 500 instead of a dropped connection.
// It should never fire; the fuzz test makes sure.
func recoverer(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("本地支付宝: 内部错误 (panic) / local alipay: panic", "path", r.URL.Path, "panic", v)
				http.Error(w, "本地模拟支付宝内部错误 / internal error of the LOCAL Alipay", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
