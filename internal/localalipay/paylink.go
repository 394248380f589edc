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
	"strings"
	"time"
)

// ErrCashier is wrapped when the cashier shows an error page instead of the
// pay form; the error text carries the page's error code.
var ErrCashier = errors.New("the local Alipay cashier refused the link (收银台报错)")

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
// local paid page. It does not follow that redirect.
func PayLink(ctx context.Context, link string) (string, error) {
	page, base, err := openLink(ctx, link)
	if err != nil {
		return "", err
	}
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		if paidHeaderRE.MatchString(page) {
			return "", fmt.Errorf("%w: ACQ.TRADE_HAS_SUCCESS: 该订单已支付 (already paid)", ErrCashier)
		}
		return "", fmt.Errorf("%w: no pay form on the cashier page", ErrCashier)
	}
	action, err := base.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", fmt.Errorf("pay form action: %w", err)
	}
	form := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("pay: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := buyerClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("pay: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		if err := pageError(string(body)); err != nil {
			return "", err
		}
		return "", fmt.Errorf("pay: the cashier answered HTTP %d instead of a redirect", resp.StatusCode)
	}
	loc, err := action.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("pay: bad redirect: %w", err)
	}
	return loc.String(), nil
}

// OpenLink opens a payment link like a browser, so that the trade exists
// (WAIT_BUYER_PAY), and returns its trade_no.
func OpenLink(ctx context.Context, link string) (tradeNo string, err error) {
	page, _, err := openLink(ctx, link)
	if err != nil {
		return "", err
	}
	m := tradeNoRE.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("%w: no trade on the cashier page", ErrCashier)
	}
	return html.UnescapeString(m[1]), nil
}

var buyerClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// openLink GETs a link and returns the cashier page, or the error it shows.
func openLink(ctx context.Context, link string) (string, *url.URL, error) {
	base, err := url.Parse(link)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return "", nil, fmt.Errorf("payment link %q is not an http(s) URL", shorten(link))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return "", nil, fmt.Errorf("open link: %w", err)
	}
	resp, err := buyerClient.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("open link: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", nil, fmt.Errorf("open link: %w", err)
	}
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("open link: HTTP %d", resp.StatusCode)
	}
	if err := pageError(page); err != nil {
		return "", nil, err
	}
	return page, base, nil
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

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
