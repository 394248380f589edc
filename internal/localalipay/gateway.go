package localalipay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// MaxBodyBytes is the largest request body the gateway reads.
const MaxBodyBytes = 1 << 20

// Public error codes and their msg, as the gateway writes them.
const (
	codeSuccess     = "10000"
	codeUnavailable = "20000"
	codeMissing     = "40001"
	codeInvalid     = "40002"
	codeBusiness    = "40004"
)

var codeMsg = map[string]string{
	codeSuccess:     "Success",
	codeUnavailable: "Service Currently Unavailable",
	codeMissing:     "Missing Required Arguments",
	codeInvalid:     "Invalid Arguments",
	codeBusiness:    "Business Failed",
}

// gwError is an answer other than success: code, sub_code, sub_msg.
type gwError struct {
	Code   string
	Sub    string
	SubMsg string
}

func (e *gwError) Error() string { return e.Code + " " + e.Sub + ": " + e.SubMsg }

func invalidParam(format string, args ...any) *gwError {
	return &gwError{Code: codeInvalid, Sub: "isv.invalid-parameter", SubMsg: "参数无效: " + fmt.Sprintf(format, args...)}
}

// methodKind tells how the gateway answers a method.
type methodKind int

const (
	kindAPI  methodKind = iota + 1 // server-to-server, signed JSON envelope
	kindPage                       // opened by a browser, answers an HTML cashier
)

// methods are the OpenAPI methods this Alipay knows.
var methods = map[string]methodKind{
	alipay.MethodPagePay:     kindPage,
	alipay.MethodWapPay:      kindPage,
	alipay.MethodQuery:       kindAPI,
	alipay.MethodRefund:      kindAPI,
	alipay.MethodRefundQuery: kindAPI,
	alipay.MethodClose:       kindAPI,
	alipay.MethodPrecreate:   kindAPI,
}

// gatewayRequest is a verified request.
type gatewayRequest struct {
	Params   map[string]string
	Method   string
	SignType alipay.SignType
	Biz      bizContent
	Now      time.Time
	Host     string // the Host the request came to; QR codes point there
}

// handleGateway serves /gateway.do: parse, check in Alipay's order, verify,
// then answer a signed envelope (APIs) or a cashier page (page/wap pay).
func (s *Server) handleGateway(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	w.Header()["trace_id"] = []string{newTraceID(now)} // lower case on the wire, as Alipay sends it
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "本地模拟支付宝网关只接受 GET 和 POST (LOCAL Alipay gateway: GET or POST only)", http.StatusMethodNotAllowed)
		return
	}
	params, perr := readParams(w, r)
	method := params["method"]
	kind := methods[method]
	fd := s.faults.decide(method)
	if fd.latency > 0 {
		t := time.NewTimer(fd.latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if fd.http502 {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1><p>本地模拟支付宝: 注入的故障 (LOCAL Alipay: injected fault)</p></body></html>")
		return
	}
	signed := params["app_id"] == s.id.AppID
	st := alipay.RSA2
	if params["sign_type"] == string(alipay.RSA) {
		st = alipay.RSA
	}
	key := "error_response"
	if kind != 0 {
		key = alipay.ResponseKey(method)
	}
	fail := func(e *gwError) {
		if kind == kindPage {
			s.renderError(w, e)
			return
		}
		s.writeEnvelope(w, key, errorObj(e, nil), signed, st, fd)
	}
	if perr != nil {
		fail(perr)
		return
	}
	req, gerr := s.checkRequest(params, now)
	if req != nil {
		req.Host = r.Host
	}
	if gerr != nil {
		if gerr.Sub == "isv.invalid-app-id" {
			signed = false
		}
		fail(gerr)
		return
	}
	if fd.systemError && !fd.afterCommit {
		fail(fd.systemErrorAnswer())
		return
	}
	if kind == kindPage {
		s.openCashier(w, r, req)
		return
	}
	inner := s.dispatch(r.Context(), req)
	if fd.systemError {
		inner = errorObj(fd.systemErrorAnswer(), nil)
	}
	s.writeEnvelope(w, key, inner, signed, st, fd)
}

// readParams merges the query string and the form body. A key given twice
// with different values is refused: which one was signed is unknowable. (The
// same value twice is accepted: some clients put charset=utf-8 in both.)
// Everything readable is merged even on error, so that the error answer can
// name the method and be signed for the right app.
func readParams(w http.ResponseWriter, r *http.Request) (map[string]string, *gwError) {
	params := map[string]string{}
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	errs := []*gwError{mergeParams(params, q)}
	if qerr != nil {
		errs = append(errs, invalidParam("查询字符串格式错误 (malformed query string: %s)", escapeErrText(qerr)))
	}
	if r.Method == http.MethodPost && r.Body != nil {
		errs = append(errs, readBody(w, r, params))
	}
	for _, e := range errs {
		if e != nil {
			return params, e
		}
	}
	return params, nil
}

// readBody merges a form (or multipart) body into params.
func readBody(w http.ResponseWriter, r *http.Request, params map[string]string) *gwError {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(r.Header.Get("Content-Type"), ";", 2)[0]))
	tooLarge := invalidParam("请求体超过 %d 字节 (request body larger than 1 MiB)", MaxBodyBytes)
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge
			}
			return invalidParam("multipart 请求体格式错误 (malformed multipart body)")
		}
		// File parts are never signed; only the text fields count.
		return mergeParams(params, url.Values(r.MultipartForm.Value))
	case "", "application/x-www-form-urlencoded", "text/plain":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return tooLarge
			}
			return invalidParam("读取请求体失败 (cannot read the request body)")
		}
		form, ferr := url.ParseQuery(string(body))
		if err := mergeParams(params, form); err != nil {
			return err
		}
		if ferr != nil {
			return invalidParam("表单格式错误 (malformed form body: %s)", escapeErrText(ferr))
		}
		return nil
	default:
		return invalidParam("不支持的 Content-Type %q, 请使用 application/x-www-form-urlencoded (unsupported Content-Type)", ct)
	}
}

// escapeErrText is the text of a url.ParseQuery error without Go's
// wording around it: the bad escape or the semicolon.
func escapeErrText(err error) string {
	var ee url.EscapeError
	if errors.As(err, &ee) {
		return fmt.Sprintf("invalid escape %q", string(ee))
	}
	if strings.Contains(err.Error(), "semicolon") {
		return "a ';' separator is not allowed, use '&'"
	}
	return "cannot be parsed"
}

// mergeParams adds src to dst. On a conflict the first value stays and an
// error is returned after everything else was merged (so the answer can
// still be signed for the right app).
func mergeParams(dst map[string]string, src url.Values) *gwError {
	var conflict *gwError
	for k, vs := range src {
		for _, v := range vs {
			if old, ok := dst[k]; ok {
				if old != v && conflict == nil {
					conflict = invalidParam("参数 %s 出现了多次且取值不同 (parameter %q given twice with different values)", k, k)
				}
				continue
			}
			dst[k] = v
		}
	}
	return conflict
}

// missingChecks are the 40001 checks, in the gateway's order.
var missingChecks = []struct{ param, sub, msg string }{
	{"method", "isv.missing-method", "缺少方法名参数"},
	{"sign", "isv.missing-signature", "缺少签名参数"},
	{"sign_type", "isv.missing-signature-type", "缺少签名类型参数"},
	{"app_id", "isv.missing-app-id", "缺少AppID参数"},
	{"timestamp", "isv.missing-timestamp", "缺少时间戳参数"},
	{"version", "isv.missing-version", "缺少版本参数"},
}

// checkRequest runs the gateway's checks in order and verifies the signature.
func (s *Server) checkRequest(p map[string]string, now time.Time) (*gatewayRequest, *gwError) {
	for _, c := range missingChecks {
		if p[c.param] == "" {
			return nil, &gwError{Code: codeMissing, Sub: c.sub, SubMsg: fmt.Sprintf("%s (missing %s)", c.msg, c.param)}
		}
	}
	if p["app_id"] != s.id.AppID {
		return nil, &gwError{Code: codeInvalid, Sub: alipay.SubInvalidAppID, SubMsg: "无效的AppID参数"}
	}
	method := p["method"]
	kind, ok := methods[method]
	if !ok {
		return nil, &gwError{Code: codeInvalid, Sub: "isv.invalid-method", SubMsg: "不存在的方法名"}
	}
	var st alipay.SignType
	switch p["sign_type"] {
	case string(alipay.RSA2), string(alipay.RSA):
		st = alipay.SignType(p["sign_type"])
	default:
		return nil, &gwError{Code: codeInvalid, Sub: "isv.invalid-signature-type", SubMsg: "无效签名类型 (sign_type must be RSA2 or RSA)"}
	}
	if cs := strings.ToLower(p["charset"]); cs != "" && cs != "utf-8" && cs != "utf8" {
		return nil, &gwError{Code: codeInvalid, Sub: "isv.invalid-charset", SubMsg: "字符集错误: 本地模拟支付宝只支持 utf-8 (LOCAL Alipay supports charset=utf-8 only)"}
	}
	for k, v := range p {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, &gwError{Code: codeInvalid, Sub: "isv.invalid-charset", SubMsg: "字符集错误: 参数不是合法的 UTF-8 (parameters are not valid UTF-8)"}
		}
	}
	if f := p["format"]; f != "" && !strings.EqualFold(f, "JSON") {
		return nil, &gwError{Code: codeInvalid, Sub: "isv.invalid-format", SubMsg: "无效的数据格式 (format must be JSON)"}
	}
	if p["version"] != "1.0" {
		return nil, invalidParam("version 只能是 1.0 (version must be 1.0)")
	}
	if err := s.checkTimestamp(p["timestamp"], kind, now); err != nil {
		return nil, err
	}
	if p["encrypt_type"] != "" {
		return nil, &gwError{Code: codeInvalid, Sub: "isv.invalid-encrypt-type", SubMsg: "本地模拟支付宝未配置内容加密 (AES content encryption is not configured)"}
	}
	content := alipay.SignContent(p)
	if err := alipay.Verify(&s.id.appKey.PublicKey, st, []byte(content), p["sign"]); err != nil {
		return nil, &gwError{Code: codeInvalid, Sub: alipay.SubInvalidSignature,
			SubMsg: "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：" + strings.ReplaceAll(content, "&", "&amp;")}
	}
	req := &gatewayRequest{Params: p, Method: method, SignType: st, Now: now}
	raw, ok := p["biz_content"]
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, &gwError{Code: codeBusiness, Sub: alipay.SubInvalidParameter, SubMsg: "参数无效: 缺少 biz_content (biz_content is required)"}
	}
	biz, berr := parseBiz(raw)
	if berr != nil {
		return nil, berr
	}
	req.Biz = biz
	return req, nil
}

// checkTimestamp enforces the format and a window around Beijing time. API
// calls must be within TimestampSkew; a page/wap link may be opened up to a
// day after it was signed (but never signed in the future).
func (s *Server) checkTimestamp(ts string, kind methodKind, now time.Time) *gwError {
	bad := func(why string) *gwError {
		return &gwError{Code: codeInvalid, Sub: "isv.invalid-timestamp",
			SubMsg: "非法的时间戳参数: " + why + " (timestamp must be yyyy-MM-dd HH:mm:ss in Beijing time, within the allowed window)"}
	}
	t, err := alipay.ParseTimestamp(ts)
	if err != nil {
		return bad("格式错误")
	}
	skew := s.skew
	if d := t.Sub(now); d > skew {
		return bad(fmt.Sprintf("比北京时间快 %s", d.Round(time.Second)))
	}
	maxAge := skew
	if kind == kindPage {
		maxAge = linkMaxAge
	}
	if d := now.Sub(t); d > maxAge {
		return bad(fmt.Sprintf("比北京时间慢 %s", d.Round(time.Second)))
	}
	return nil
}

// linkMaxAge is how long after signing a page/wap link can be opened.
const linkMaxAge = 24 * time.Hour

// errorObj is the inner object of an error answer, plus echoed fields.
func errorObj(e *gwError, echo obj) obj {
	o := obj{{"code", e.Code}, {"msg", codeMsg[e.Code]}}
	o = o.addIf("sub_code", e.Sub).addIf("sub_msg", e.SubMsg)
	return append(o, echo...)
}

// dispatch runs a verified API call and returns the inner object.
func (s *Server) dispatch(ctx context.Context, req *gatewayRequest) obj {
	var fields obj
	var err error
	switch req.Method {
	case alipay.MethodQuery:
		fields, err = s.apiQuery(ctx, req)
	case alipay.MethodRefund:
		fields, err = s.apiRefund(ctx, req)
	case alipay.MethodRefundQuery:
		fields, err = s.apiRefundQuery(ctx, req)
	case alipay.MethodClose:
		fields, err = s.apiClose(ctx, req)
	case alipay.MethodPrecreate:
		fields, err = s.apiPrecreate(ctx, req)
	default:
		err = &gwError{Code: codeInvalid, Sub: "isv.invalid-method", SubMsg: "不存在的方法名"}
	}
	if err == nil {
		return append(obj{{"code", codeSuccess}, {"msg", codeMsg[codeSuccess]}}, fields...)
	}
	ge := asGwError(err)
	if ge == nil {
		s.log.Error("本地支付宝: 接口调用失败 / local alipay: API call failed", "method", req.Method, "err", err)
		return errorObj(errSystemBusy, nil)
	}
	return errorObj(ge, fields)
}

// errSystemBusy answers a failure of this Alipay itself; the details go to
// its log.
var errSystemBusy = &gwError{Code: codeUnavailable, Sub: "isp.unknow-error", SubMsg: "系统繁忙 (internal error of the LOCAL Alipay; see its log)"}

// asGwError is err as the gateway answers it: a business failure is 40004,
// a gateway error is itself, anything else is nil (an internal failure).
func asGwError(err error) *gwError {
	var be *bizError
	var ge *gwError
	switch {
	case errors.As(err, &be):
		return &gwError{Code: codeBusiness, Sub: be.Sub, SubMsg: be.Msg}
	case errors.As(err, &ge):
		return ge
	}
	return nil
}

// writeEnvelope writes {"<key>":<inner>,"sign":"…"} signed over the exact
// bytes of inner with this Alipay's private key, as the real gateway does.
func (s *Server) writeEnvelope(w http.ResponseWriter, key string, inner obj, signed bool, st alipay.SignType, fd faultDecision) {
	content := inner.String()
	var b strings.Builder
	b.Grow(len(content) + 420)
	b.WriteString(`{`)
	writeJSONString(&b, key)
	b.WriteByte(':')
	b.WriteString(content)
	if signed && !fd.unsigned {
		sign, err := alipay.Sign(s.id.alipayKey, st, []byte(content))
		if err != nil {
			s.log.Error("本地支付宝: 响应签名失败 / local alipay: sign response", "err", err)
		} else {
			if fd.tamper {
				sign = tamper(sign)
			}
			// base64 needs no escaping; Alipay writes its "/" as is.
			b.WriteString(`,"sign":"` + sign + `"`)
		}
	}
	b.WriteByte('}')
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, b.String())
}

// tamper flips one character of a base64 signature; it stays valid base64.
func tamper(sign string) string {
	if sign == "" {
		return sign
	}
	b := []byte(sign)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// newTraceID makes a trace_id header value like Alipay's (hex, with time).
func newTraceID(now time.Time) string {
	return fmt.Sprintf("0b%08x%013d%s", uint32(now.Unix()), now.UnixMilli()%1e13, randomHex(3))
}
