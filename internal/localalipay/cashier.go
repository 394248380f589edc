package localalipay

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"rsc.io/qr"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// cashierView is what the cashier templates show.
type cashierView struct {
	Mobile     bool
	Trade      *trade
	Amount     string
	Expires    string
	QR         template.URL // data: URI of a PNG
	PhoneURL   string
	QuitURL    string
	Paid       bool
	Status     string
	ErrorCode  string
	ErrorSub   string
	ErrorMsg   string
	ReturnLink string
}

// openCashier answers a verified page/wap pay request: the trade is created
// (or found again) and the cashier shown.
func (s *Server) openCashier(w http.ResponseWriter, r *http.Request, req *gatewayRequest) {
	order, err := parsePayOrder(req)
	if err != nil {
		s.renderBizError(w, err)
		return
	}
	t, err := s.openTrade(r.Context(), order, req.Now)
	switch {
	case errors.Is(err, errTradeHasSuccess):
		s.renderPaid(w, t, true)
		return
	case err != nil:
		s.renderBizError(w, err)
		return
	}
	s.renderCashier(w, r, t, req.Method == alipay.MethodWapPay)
}

func (s *Server) renderCashier(w http.ResponseWriter, r *http.Request, t *trade, mobile bool) {
	v := &cashierView{Mobile: mobile, Trade: t, Amount: t.Total.String(), Status: t.Status, QuitURL: t.QuitURL}
	if !t.Expires.IsZero() {
		v.Expires = alipay.FormatTimestamp(t.Expires)
	}
	if !mobile {
		v.PhoneURL = "http://" + r.Host + "/cashier/m?" + url.Values{"trade_no": {t.TradeNo}, "token": {t.PayToken}}.Encode()
		if code, err := qr.Encode(v.PhoneURL, qr.M); err == nil {
			code.Scale = 4
			v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()))
		}
	}
	s.renderPage(w, "cashier", v)
}

// renderBizError shows an error page as Alipay's cashier does (HTTP 200).
func (s *Server) renderBizError(w http.ResponseWriter, err error) {
	ge := asGwError(err)
	if ge == nil {
		s.log.Error("本地支付宝: 收银台出错 / local alipay: cashier failed", "err", err)
		ge = errSystemBusy
	}
	s.renderError(w, ge)
}

func (s *Server) renderError(w http.ResponseWriter, e *gwError) {
	s.renderPage(w, "error", &cashierView{ErrorCode: e.Code, ErrorSub: e.Sub, ErrorMsg: e.SubMsg})
}

func (s *Server) renderPaid(w http.ResponseWriter, t *trade, already bool) {
	v := &cashierView{Trade: t, Amount: t.Total.String(), Paid: already, Status: t.Status}
	if t.ReturnURL != "" {
		if u, err := s.returnURL(t); err == nil {
			v.ReturnLink = u
		}
	}
	s.renderPage(w, "paid", v)
}

func (s *Server) renderPage(w http.ResponseWriter, name string, v *cashierView) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	if err := pages.ExecuteTemplate(w, name, v); err != nil {
		s.log.Error("本地支付宝: 页面渲染失败 / local alipay: render page", "page", name, "err", err)
	}
}

// handleMobileCashier is the cashier a phone opens from the desktop QR code.
func (s *Server) handleMobileCashier(w http.ResponseWriter, r *http.Request) {
	t, err := s.tradeForToken(r.Context(), r.URL.Query().Get("trade_no"), r.URL.Query().Get("token"))
	if err != nil {
		s.renderBizError(w, err)
		return
	}
	switch {
	case t.paid():
		s.renderPaid(w, t, true)
	case t.Status != StatusWaitBuyerPay:
		s.renderBizError(w, errTradeHasClose)
	default:
		s.renderCashier(w, r, t, true)
	}
}

// tradeForToken finds a trade by trade_no and checks its pay token.
func (s *Server) tradeForToken(ctx context.Context, tradeNo, token string) (*trade, error) {
	if tradeNo == "" || token == "" {
		return nil, errBadPayToken
	}
	t, err := s.queryTrade(ctx, tradeRef{TradeNo: tradeNo}, s.now())
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(t.PayToken), []byte(token)) != 1 {
		return nil, errBadPayToken
	}
	return t, nil
}

// handlePay is the cashier's pay button: the trade becomes TRADE_SUCCESS and
// the browser goes to return_url with signed parameters, or to the local
// paid page.
func (s *Server) handlePay(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderBizError(w, errBadPayToken)
		return
	}
	t, _, err := s.payTrade(r.Context(), tradeRef{TradeNo: r.PostForm.Get("trade_no")}, r.PostForm.Get("token"), true, s.now())
	if err != nil {
		s.renderBizError(w, err)
		return
	}
	target, err := s.afterPayURL(t, "http://"+r.Host)
	if err != nil {
		s.renderBizError(w, err)
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// afterPayURL is where the buyer goes after paying.
func (s *Server) afterPayURL(t *trade, base string) (string, error) {
	if t.ReturnURL != "" {
		return s.returnURL(t)
	}
	return base + "/cashier/paid?" + url.Values{"trade_no": {t.TradeNo}, "token": {t.PayToken}}.Encode(), nil
}

// returnURL is return_url with the signed return parameters (notes §7.8).
func (s *Server) returnURL(t *trade) (string, error) {
	p := map[string]string{
		"charset":      "utf-8",
		"out_trade_no": t.OutTradeNo,
		"method":       t.Method + ".return",
		"total_amount": t.Total.String(),
		"trade_no":     t.TradeNo,
		"auth_app_id":  t.AppID,
		"version":      "1.0",
		"app_id":       t.AppID,
		"seller_id":    s.id.SellerID,
		"timestamp":    alipay.FormatTimestamp(s.now()),
	}
	q, err := s.signForm(p, t.SignType)
	if err != nil {
		return "", err
	}
	sep := "?"
	if strings.Contains(t.ReturnURL, "?") {
		sep = "&"
	}
	return t.ReturnURL + sep + q, nil
}

// handlePaid is the local page shown after paying when there is no return_url.
func (s *Server) handlePaid(w http.ResponseWriter, r *http.Request) {
	t, err := s.tradeForToken(r.Context(), r.URL.Query().Get("trade_no"), r.URL.Query().Get("token"))
	if err != nil {
		s.renderBizError(w, err)
		return
	}
	s.renderPaid(w, t, false)
}

// handleIndex explains what this server is.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	s.renderPage(w, "index", &cashierView{})
}
