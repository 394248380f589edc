package localalipay

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// controlRoutes registers the /_local/ control API: JSON in and out,
// loopback clients only.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	// h registers an endpoint; query names the query parameters it takes
	// (any other is refused).
	h := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) (any, error), query ...string) {
		mux.Handle(pattern, s.guard(fn, query))
	}
	h("GET /_local/credentials", func(w http.ResponseWriter, r *http.Request) (any, error) {
		c := s.Credentials()
		return map[string]string{
			"AP_APP_ID": c.AppID, "AP_APP_KEY": c.AppPrivateKey, "AP_PUB_KEY": c.AlipayPublicKey,
			"AP_GATEWAY_URL": c.GatewayURL, "AP_SELLER_ID": c.SellerID,
			"note": "AP_APP_KEY 是本地测试应用私钥, 不是真实凭据 (AP_APP_KEY is the private key of a LOCAL test app, not a real credential)",
		}, nil
	})
	h("GET /_local/trades", func(w http.ResponseWriter, r *http.Request) (any, error) {
		limit, err := parseLimit(r.URL.Query())
		if err != nil {
			return nil, err
		}
		trades, err := s.Trades(r.Context(), limit)
		return map[string]any{"trades": trades}, err
	}, "limit")
	h("GET /_local/trades/{out_trade_no}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.Trade(r.Context(), r.PathValue("out_trade_no"))
	})
	h("POST /_local/trades/{out_trade_no}/pay", func(w http.ResponseWriter, r *http.Request) (any, error) {
		no := r.PathValue("out_trade_no")
		redirect, err := s.PayTrade(r.Context(), no)
		if err != nil {
			return nil, err
		}
		d, err := s.Trade(r.Context(), no)
		return map[string]any{"redirect_url": redirect, "trade": d}, err
	})
	h("POST /_local/trades/{out_trade_no}/close", func(w http.ResponseWriter, r *http.Request) (any, error) {
		no := r.PathValue("out_trade_no")
		if err := s.CloseTrade(r.Context(), no); err != nil {
			return nil, err
		}
		return s.Trade(r.Context(), no)
	})
	h("POST /_local/trades/{out_trade_no}/expire", func(w http.ResponseWriter, r *http.Request) (any, error) {
		no := r.PathValue("out_trade_no")
		if err := s.ExpireTrade(r.Context(), no); err != nil {
			return nil, err
		}
		return s.Trade(r.Context(), no)
	})
	h("POST /_local/notifications/{notify_id}/resend", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := s.ResendNotification(r.Context(), r.PathValue("notify_id")); err != nil {
			return nil, err
		}
		return map[string]string{"notify_id": r.PathValue("notify_id"), "state": notifyPending}, nil
	})
	h("POST /_local/pay-link", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var in struct {
			Link string `json:"link"`
		}
		if err := decodeJSON(r, &in); err != nil {
			return nil, err
		}
		if strings.TrimSpace(in.Link) == "" {
			return nil, &controlError{http.StatusBadRequest, "bad_input", "缺少 link: 请给出要打开并支付的支付链接 (link is required: the payment link to open and pay)"}
		}
		u, err := s.ownLink(in.Link)
		if err != nil {
			return nil, &controlError{http.StatusBadRequest, "foreign_link", err.Error()}
		}
		redirect, err := payLink(r.Context(), u, func(a *url.URL) error {
			_, err := s.ownLink(a.String())
			return err
		})
		if err != nil {
			return nil, &controlError{http.StatusBadRequest, "pay_link_failed", err.Error()}
		}
		return map[string]string{"redirect_url": redirect}, nil
	})
	h("GET /_local/faults", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.Faults(), nil
	})
	h("POST /_local/faults", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var f Faults
		if err := decodeJSON(r, &f); err != nil {
			return nil, err
		}
		if err := s.SetFaults(f); err != nil {
			return nil, &controlError{http.StatusBadRequest, "invalid_faults", err.Error()}
		}
		return s.Faults(), nil
	})
	h("DELETE /_local/faults", func(w http.ResponseWriter, r *http.Request) (any, error) {
		s.ClearFaults()
		return s.Faults(), nil
	})
	h("/_local/", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, &controlError{http.StatusNotFound, "not_found", "未知的控制接口, 见 docs/local-alipay.md (unknown control endpoint; see docs/local-alipay.md)"}
	})
}

// controlError is a control API failure with its HTTP status.
type controlError struct {
	Status  int
	Code    string
	Message string
}

func (e *controlError) Error() string { return e.Message }

// write answers e as {"error": {"code": …, "message": …}}.
func (e *controlError) write(w http.ResponseWriter) {
	writeJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

// guard serves a control endpoint: loopback peers only, a loopback Host
// (against DNS rebinding) and no cross-site browser requests.
func (s *Server) guard(fn func(w http.ResponseWriter, r *http.Request) (any, error), query []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ce := checkLocal(r); ce != nil {
			ce.write(w)
			return
		}
		if ce := checkQuery(r, query); ce != nil {
			ce.write(w)
			return
		}
		v, err := fn(w, r)
		if err != nil {
			var ce *controlError
			switch {
			case errors.As(err, &ce):
			case errors.Is(err, ErrNoTrade), errors.Is(err, ErrNoNotification):
				ce = &controlError{http.StatusNotFound, "not_found", err.Error()}
			default:
				var be *bizError
				if errors.As(err, &be) {
					ce = &controlError{http.StatusConflict, be.Sub, be.Msg}
				} else {
					s.log.Error("本地支付宝: 控制接口出错 / local alipay: control", "path", r.URL.Path, "err", err)
					ce = &controlError{http.StatusInternalServerError, "internal", "本地模拟支付宝内部错误, 详见其日志 (internal error of the LOCAL Alipay; see its log)"}
				}
			}
			ce.write(w)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func checkLocal(r *http.Request) *controlError {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return &controlError{http.StatusForbidden, "forbidden", "控制接口只接受本机访问 (the control API answers loopback clients only)"}
	}
	if !isLoopbackHost(r.Host) {
		return &controlError{http.StatusForbidden, "forbidden", "控制接口要求 Host 请求头是本机地址: 127.0.0.1、localhost 或 [::1] (the control API needs a loopback Host header: 127.0.0.1, localhost or [::1])"}
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !isLoopbackHost(u.Host) {
			return &controlError{http.StatusForbidden, "forbidden", "控制接口拒绝跨站请求 (cross-site requests to the control API are refused)"}
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return &controlError{http.StatusForbidden, "forbidden", "控制接口拒绝跨站请求 (cross-site requests to the control API are refused)"}
	}
	return nil
}

func isLoopbackHost(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
