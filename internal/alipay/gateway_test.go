package alipay

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fakeGateway is an httptest server speaking the OpenAPI v2 protocol: it
// merges query and form parameters, refuses duplicates, verifies the
// request signature with the app public key and signs its answers with a
// test "Alipay" private key, as the real gateway does.
type fakeGateway struct {
	t         testing.TB
	srv       *httptest.Server
	alipayKey *rsa.PrivateKey
	appPub    *rsa.PublicKey
	reply     func(n int, req gwRequest) gwReply

	mu   sync.Mutex
	reqs []gwRequest
}

// gwRequest is what the gateway received.
type gwRequest struct {
	Params  map[string]string
	Biz     map[string]any
	InQuery map[string]bool // which parameters came in the query string
	HTTP    *http.Request
}

// gwReply is the gateway's answer. Only one of Body, Hang, Drop is used.
type gwReply struct {
	Status int
	Body   string
	Hang   bool // wait until the client gives up
	Drop   bool // close the connection without answering
}

func testAlipayKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := ParsePrivateKey("test", mustRead(t, "test-alipay-private-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newFakeGateway(t testing.TB, reply func(n int, req gwRequest) gwReply) *fakeGateway {
	t.Helper()
	g := &fakeGateway{t: t, alipayKey: testAlipayKey(t), appPub: &appKey(t).PublicKey, reply: reply}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGateway) url() string { return g.srv.URL + "/gateway.do" }

func (g *fakeGateway) requests() []gwRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gwRequest(nil), g.reqs...)
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := gwRequest{Params: map[string]string{}, InQuery: map[string]bool{}, HTTP: r}
	method := r.URL.Query().Get("method")
	for _, part := range []struct {
		vals    url.Values
		inQuery bool
	}{{r.URL.Query(), true}, {r.PostForm, false}} {
		for k, vs := range part.vals {
			if _, dup := req.Params[k]; dup || len(vs) != 1 {
				g.write(w, g.signed(method, fmt.Sprintf(`{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-parameter","sub_msg":"参数 %s 重复"}`, k)))
				return
			}
			req.Params[k] = vs[0]
			req.InQuery[k] = part.inQuery
		}
	}
	method = req.Params["method"]
	st, err := ParseSignType(req.Params["sign_type"])
	if err == nil {
		err = Verify(g.appPub, st, []byte(SignContent(req.Params)), req.Params["sign"])
	}
	if err != nil {
		g.write(w, g.signed(method, `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}`))
		return
	}
	if err := json.Unmarshal([]byte(req.Params["biz_content"]), &req.Biz); err != nil {
		g.write(w, g.signed(method, `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.INVALID_PARAMETER","sub_msg":"参数无效"}`))
		return
	}
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	n := len(g.reqs)
	g.mu.Unlock()

	rep := g.reply(n, req)
	switch {
	case rep.Hang:
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	case rep.Drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		w.Header().Set("trace_id", fmt.Sprintf("trace-%d", n))
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		status := rep.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(rep.Body))
	}
}

func (g *fakeGateway) write(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	_, _ = w.Write([]byte(body))
}

// signed wraps inner (exact bytes) in the envelope of method and signs it
// with the gateway's Alipay key.
func (g *fakeGateway) signed(method, inner string) string {
	return signedBody(g.t, g.alipayKey, ResponseKey(method), inner)
}

func signedBody(t testing.TB, key *rsa.PrivateKey, respKey, inner string) string {
	t.Helper()
	sign, err := Sign(key, RSA2, []byte(inner))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"%s":%s,"sign":"%s"}`, respKey, inner, sign)
}

// fixedNow is the clock of test clients: 2024-01-01 12:00:00 Beijing time.
var fixedNow = time.Date(2024, 1, 1, 4, 0, 0, 0, time.UTC)

// newTestClient returns a client of the fake gateway with instant retries.
func newTestClient(t testing.TB, g *fakeGateway, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		AppID:           "2021000122671080",
		PrivateKey:      appKey(t),
		AlipayPublicKey: testAlipayPublic(t),
		GatewayURL:      g.url(),
		Now:             func() time.Time { return fixedNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = func(int) time.Duration { return 0 }
	return c
}
