package localalipay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/nodeinterop"
)

// chromiumPath is Debian's Chromium, installed by .ci/run.
const chromiumPath = "/usr/bin/chromium"

// needBrowser skips the test without Chromium or playwright-core (a local
// run) and fails it under CI=true, like nodeinterop does for Node.
func needBrowser(t *testing.T) {
	t.Helper()
	dir := nodeinterop.Dir(t)
	missing := ""
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = chromiumPath + " is not installed (apt-get install chromium)"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = "interop/node_modules/playwright-core is not installed (run: npm ci --prefix interop)"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("browser peer unavailable under CI: %s", missing)
	}
	t.Skipf("skipping browser test: %s", missing)
}

// merchantReturn is a merchant's return_url page: it records the query of
// every visit.
type merchantReturn struct {
	*httptest.Server
	mu     sync.Mutex
	visits []url.Values
}

const merchantTitle = "Merchant return page"

func newMerchantReturn(t *testing.T) *merchantReturn {
	t.Helper()
	m := &merchantReturn{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			http.NotFound(w, r)
			return
		}
		m.mu.Lock()
		m.visits = append(m.visits, r.URL.Query())
		m.mu.Unlock()
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		io.WriteString(w, "<!doctype html><title>"+merchantTitle+"</title><p>thanks</p>")
	}))
	t.Cleanup(m.Close)
	return m
}

// visitFor returns the one visit whose out_trade_no is otn.
func (m *merchantReturn) visitFor(t *testing.T, otn string) url.Values {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var found []url.Values
	for _, v := range m.visits {
		if v.Get("out_trade_no") == otn {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		t.Fatalf("return_url visits for %s: %d, want 1 (all visits: %v)", otn, len(found), m.visits)
	}
	return found[0]
}

// browserResult is what interop/cashier-browser.mjs printed for one run.
type browserResult struct {
	FinalURL   string `json:"finalUrl"`
	Title      string `json:"title"`
	SawQR      bool   `json:"sawQR"`
	Marker     string `json:"marker"`
	PayVisible bool   `json:"payVisible"`
	Error      string `json:"error"`
	Text       string `json:"text"`
}

// TestBrowserCashierPays opens a desktop (page.pay) and a mobile (wap.pay)
// link in headless Chromium, clicks pay, and checks that the browser lands
// on return_url with signed parameters and that the trades are paid.
func TestBrowserCashierPays(t *testing.T) {
	needBrowser(t)
	ctx := ctxT(t)
	srv := startServer(t, localalipay.Options{})
	merchant := newMerchantReturn(t)
	returnURL := merchant.URL + "/shop/return"
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.ReturnURL = returnURL })

	cases := []struct {
		name   string
		otn    string
		mobile bool
		method string
		link   func(alipay.PayRequest) (string, error)
	}{
		{"desktop", "BROWSER-PAGE-1", false, alipay.MethodPagePay, cl.PagePayURL},
		{"mobile", "BROWSER-WAP-1", true, alipay.MethodWapPay, cl.WapPayURL},
	}
	type run struct {
		URL          string `json:"url"`
		ReturnPrefix string `json:"returnPrefix"`
		Mobile       bool   `json:"mobile"`
	}
	var runs []run
	for _, c := range cases {
		link, err := c.link(alipay.PayRequest{OutTradeNo: c.otn, TotalAmount: 4321, Subject: "浏览器测试 " + c.name})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{URL: link, ReturnPrefix: returnURL + "?", Mobile: c.mobile})
	}
	in, err := json.Marshal(map[string]any{"runs": runs})
	if err != nil {
		t.Fatal(err)
	}
	out := nodeinterop.Run(t, "cashier-browser.mjs", in)
	var res struct {
		Results []browserResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Results) != len(cases) {
		t.Fatalf("browser output (%v): %s", err, out)
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := res.Results[i]
			if r.Error != "" {
				t.Fatalf("browser: %s\nat %s\npage text: %s", r.Error, r.FinalURL, r.Text)
			}
			if !strings.Contains(r.Marker, "本地模拟支付宝") || !strings.Contains(r.Marker, "not the real Alipay") {
				t.Errorf("the cashier does not say it is the local Alipay: %q", r.Marker)
			}
			if !r.PayVisible {
				t.Error("the pay button was not visible")
			}
			if r.SawQR == c.mobile {
				t.Errorf("QR code shown = %v on the %s cashier, want %v", r.SawQR, c.name, !c.mobile)
			}
			if !strings.HasPrefix(r.FinalURL, returnURL+"?") || r.Title != merchantTitle {
				t.Fatalf("browser ended at %q (title %q), want the return_url %s", r.FinalURL, r.Title, returnURL)
			}

			// What the merchant's server received, verified as a merchant would.
			got := merchant.visitFor(t, c.otn)
			if err := cl.VerifyReturn(got); err != nil {
				t.Errorf("return parameters do not verify: %v (%v)", err, got)
			}
			fu, err := url.Parse(r.FinalURL)
			if err != nil {
				t.Fatal(err)
			}
			if fu.Query().Encode() != got.Encode() {
				t.Errorf("the browser's URL and the merchant's request differ:\n%v\n%v", fu.Query(), got)
			}
			if got.Get("method") != c.method+".return" || got.Get("total_amount") != "43.21" ||
				got.Get("app_id") != srv.Credentials().AppID || got.Get("trade_no") == "" {
				t.Errorf("return parameters: %v", got)
			}

			q, err := cl.Query(ctx, c.otn)
			if err != nil {
				t.Fatal(err)
			}
			if q.TradeStatus != localalipay.StatusSuccess || q.TotalAmount != "43.21" || q.TradeNo != got.Get("trade_no") {
				t.Errorf("after the browser paid: %+v", q)
			}
		})
	}
}
