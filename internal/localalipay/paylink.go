package localalipay

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// ErrCashier is wrapped when the cashier shows an error page instead of the
// pay form; the error text carries the page's error code.
var ErrCashier = errors.New("收银台报错 (the local Alipay cashier refused the link)")

// ErrForeignLink is wrapped when a link does not point at a local Alipay on
// this machine: PayLink and OpenLink open only http(s) links whose host is
// 127.0.0.1 (any loopback address), [::1] or localhost, without a DNS lookup.
var ErrForeignLink = errors.New("只能打开本机上的本地模拟支付宝的链接, 主机须为 127.0.0.1、[::1] 或 localhost / " +
	"only links to a LOCAL Alipay on this machine are opened: host 127.0.0.1, [::1] or localhost")

// ErrOtherDataDir is wrapped when the control API's pay-link is given a
// link that a local Alipay on another data directory made.
var ErrOtherDataDir = errors.New("该链接不是这个数据目录的本地模拟支付宝做的 / the link was not made by a LOCAL Alipay on this data directory")

var (
	formRE       = regexp.MustCompile(`(?s)<form id="pay-form" method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE     = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	errorCodeRE  = regexp.MustCompile(`<strong id="error-code">([^<]*)</strong>`)
	errorMsgRE   = regexp.MustCompile(`<p id="error-msg">([^<]*)</p>`)
	tradeNoRE    = regexp.MustCompile(`<dd id="trade-no">([^<]*)</dd>`)
	paidHeaderRE = regexp.MustCompile(`<h1 id="paid">`)
)

// PayLink acts as a buyer over plain HTTP: it opens a payment link (the
// trade becomes WAIT_BUYER_PAY), submits the cashier's pay form and returns
// where the browser would be sent: return_url with signed parameters, or the
// local paid page. It does not follow that redirect. Links that do not point
// at this machine are refused (ErrForeignLink) before anything is fetched.
func PayLink(ctx context.Context, link string) (string, error) {
	u, err := loopbackLink(link)
	if err != nil {
		return "", err
	}
	return payLink(ctx, u, checkLoopback)
}

// payLink is PayLink for a checked link; allow checks the pay form's action.
func payLink(ctx context.Context, link *url.URL, allow func(*url.URL) error) (string, error) {
	page, err := openLink(ctx, link)
	if err != nil {
		return "", err
	}
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		if paidHeaderRE.MatchString(page) {
			return "", fmt.Errorf("%w: ACQ.TRADE_HAS_SUCCESS: 该订单已支付 (already paid)", ErrCashier)
		}
		return "", fmt.Errorf("%w: 收银台页面上没有支付表单 (no pay form on the cashier page)", ErrCashier)
	}
	action, err := link.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", fmt.Errorf("支付表单的地址无效 (bad pay form action): %w", err)
	}
	if err := allow(action); err != nil {
		return "", err
	}
	form := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("提交支付表单失败 (submitting the pay form failed): %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := buyerClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("提交支付表单失败 (submitting the pay form failed): %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		if err := pageError(string(body)); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%w: 收银台返回了 HTTP %d 而不是跳转 (the cashier answered HTTP %d instead of a redirect)",
			ErrCashier, resp.StatusCode, resp.StatusCode)
	}
	loc, err := action.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("收银台的跳转地址无效 (bad redirect from the cashier): %w", err)
	}
	return loc.String(), nil
}

// OpenLink opens a payment link like a browser, so that the trade exists
// (WAIT_BUYER_PAY), and returns its trade_no.
// Links that do not point at this machine are refused (ErrForeignLink).
func OpenLink(ctx context.Context, link string) (tradeNo string, err error) {
	u, err := loopbackLink(link)
	if err != nil {
		return "", err
	}
	page, err := openLink(ctx, u)
	if err != nil {
		return "", err
	}
	m := tradeNoRE.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("%w: 收银台页面上没有交易 (no trade on the cashier page)", ErrCashier)
	}
	return html.UnescapeString(m[1]), nil
}

var buyerClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// loopbackLink parses link and refuses anything but an http(s) URL on a
// loopback host. The host is judged as written: names other than localhost
// are never looked up.
func loopbackLink(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w; 链接 %q 不是 http(s) 地址 / the link is not an http(s) URL", ErrForeignLink, shorten(link))
	}
	if err := checkLoopback(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkLoopback refuses a URL whose host is not loopback.
func checkLoopback(u *url.URL) error {
	if !isLoopbackHost(u.Host) {
		return fmt.Errorf("%w; 链接的主机是 %q / the link's host is %q", ErrForeignLink, shorten(u.Host), shorten(u.Host))
	}
	return nil
}

// ownLink is loopbackLink that also wants a link of this server's data
// directory: signed for its app, or on a port one of its processes has
// listened on (its own, or that of a process that made the link and has
// since exited). The link is then fetched from this server itself, so the
// control API fetches only its own pages, whichever process made the link.
func (s *Server) ownLink(link string) (*url.URL, error) {
	u, err := loopbackLink(link)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, _ := strconv.Atoi(port)
	appID := u.Query().Get("app_id")
	switch {
	case appID != "" && appID != s.id.AppID:
		return nil, fmt.Errorf("%w: 它属于另一个数据目录的本地模拟支付宝 (app_id %s), 这里是 %s, 数据目录 %s / "+
			"it belongs to a LOCAL Alipay with another data directory (app_id %s); this one is %s with data directory %s",
			ErrOtherDataDir, shorten(appID), s.id.AppID, s.opts.DataDir, shorten(appID), s.id.AppID, s.opts.DataDir)
	case u.Scheme != "http":
		return nil, fmt.Errorf("%w: 本地模拟支付宝只用 http, 链接用的是 %s / the LOCAL Alipay speaks http only; the link uses %s",
			ErrOtherDataDir, shorten(u.Scheme), shorten(u.Scheme))
	case appID == "" && !s.isOwnPort(p):
		return nil, fmt.Errorf("%w: 数据目录 %s 的本地模拟支付宝从未在端口 %s 上监听过 / "+
			"no LOCAL Alipay on data directory %s has ever listened on port %s",
			ErrOtherDataDir, s.opts.DataDir, shorten(port), s.opts.DataDir, shorten(port))
	}
	own, _ := url.Parse(s.url)
	v := *u
	v.Host = own.Host
	return &v, nil
}

// openLink GETs a checked link and returns the cashier page, or the error it
// shows.
func openLink(ctx context.Context, link *url.URL) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link.String(), nil)
	if err != nil {
		return "", fmt.Errorf("打开支付链接失败 (opening the payment link failed): %w", err)
	}
	resp, err := buyerClient.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "", fmt.Errorf("打开支付链接失败: %s 上没有本地模拟支付宝在监听; 做这个链接的进程已退出, 同一数据目录上也没有别的本地支付宝在运行。"+
				"在同一数据目录上启动 mcp-server-alipay sandbox --data-dir DIR, 它会接管这个端口 / "+
				"opening the payment link failed: nothing listens at %s; the process that made the link has exited and no other LOCAL Alipay "+
				"on its data directory runs. Start mcp-server-alipay sandbox --data-dir DIR on that data directory and it takes the port over: %w",
				link.Host, link.Host, err)
		}
		return "", fmt.Errorf("打开支付链接失败, 本地模拟支付宝是否在运行? / opening the payment link failed; is the LOCAL Alipay running?: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("读取收银台页面失败 (reading the cashier page failed): %w", err)
	}
	page := string(body)
	if err := pageError(page); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: 打开支付链接返回 HTTP %d (opening the payment link answered HTTP %d)", ErrCashier, resp.StatusCode, resp.StatusCode)
	}
	return page, nil
}

func pageError(page string) error {
	m := errorCodeRE.FindStringSubmatch(page)
	if m == nil {
		return nil
	}
	msg := ""
	if mm := errorMsgRE.FindStringSubmatch(page); mm != nil {
		msg = html.UnescapeString(mm[1])
	}
	return fmt.Errorf("%w: %s: %s", ErrCashier, html.UnescapeString(m[1]), msg)
}

// shorten cuts s to about 80 bytes, on a character boundary, for messages.
func shorten(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 80
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
