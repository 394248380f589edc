package tools

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

var (
	keyOnce        sync.Once
	appKey, aliKey *rsa.PrivateKey
)

func testKeys(t *testing.T) (app, ali *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if aliKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return appKey, aliKey
}

// answer is what a test gateway replies to one call: the inner response
// object as JSON text, and whether to corrupt its signature. Like Alipay,
// the gateway echoes the request's out_trade_no in a success (and the
// out_request_no of a refund query that found a refund) unless inner
// names them itself or noEcho is set.
type answer struct {
	inner    string
	tamper   bool
	noEcho   bool
	unsigned bool // an error_response without sign, as for isv.invalid-app-id
}

// gateway is a small Alipay gateway for handler tests: it checks each
// request's RSA2 signature with the app public key, and signs its answers
// with the Alipay key, over real HTTP. reply decides the business answer.
type gateway struct {
	t     *testing.T
	mu    sync.Mutex
	calls []string // methods called, in order
	reply func(method string, biz map[string]any) answer
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	app, ali := testKeys(g.t)
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := alipay.FlattenForm(r.Form)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	method := p["method"]
	key := alipay.ResponseKey(method)
	if err := alipay.Verify(&app.PublicKey, alipay.SignType(p["sign_type"]), []byte(alipay.SignContent(p)), p["sign"]); err != nil {
		fmt.Fprintf(w, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}`)
		return
	}
	var biz map[string]any
	if err := json.Unmarshal([]byte(p["biz_content"]), &biz); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.calls = append(g.calls, method)
	g.mu.Unlock()
	a := g.reply(method, biz)
	if a.unsigned {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		fmt.Fprintf(w, `{"error_response":%s}`, a.inner)
		return
	}
	if !a.noEcho {
		a.inner = echoIDs(a.inner, biz)
	}
	sign, err := alipay.Sign(ali, alipay.RSA2, []byte(a.inner))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if a.tamper {
		sign = strings.Replace(sign, sign[10:14], "AAAA", 1)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	fmt.Fprintf(w, `{%q:%s,"sign":%q}`, key, a.inner, sign)
}

// echoIDs adds the request's ids to a success that does not name them.
func echoIDs(inner string, biz map[string]any) string {
	if !strings.HasPrefix(inner, `{"code":"10000"`) {
		return inner
	}
	add := func(field string) {
		if v, ok := biz[field].(string); ok && !strings.Contains(inner, `"`+field+`"`) {
			inner = "{" + fmt.Sprintf("%q:%q,", field, v) + inner[1:]
		}
	}
	add("out_trade_no")
	if strings.Contains(inner, `"refund_status"`) {
		add("out_request_no")
	}
	return inner
}

func (g *gateway) methods() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

// newDeps starts a gateway and returns Deps whose client talks to it and
// makes one attempt per call.
func newDeps(t *testing.T, reply func(method string, biz map[string]any) answer) (Deps, *gateway) {
	t.Helper()
	return newDepsAttempts(t, 1, reply)
}

// newDepsAttempts is newDeps with a client that retries unknown outcomes
// up to attempts times, as the server's client does.
func newDepsAttempts(t *testing.T, attempts int, reply func(method string, biz map[string]any) answer) (Deps, *gateway) {
	t.Helper()
	app, ali := testKeys(t)
	g := &gateway{t: t, reply: reply}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	c, err := alipay.NewClient(alipay.Config{
		AppID:           "2021000000000001",
		PrivateKey:      app,
		AlipayPublicKey: &ali.PublicKey,
		GatewayURL:      srv.URL + "/gateway.do",
		MaxAttempts:     attempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return Deps{Client: c}, g
}

// ok builds a successful inner response object from extra fields.
func ok(fields string) answer {
	if fields != "" {
		fields = "," + fields
	}
	return answer{inner: `{"code":"10000","msg":"Success"` + fields + `}`}
}

func fail(code, msg, sub, subMsg string) answer {
	return answer{inner: fmt.Sprintf(`{"code":%q,"msg":%q,"sub_code":%q,"sub_msg":%q}`, code, msg, sub, subMsg)}
}

func alipayAmount(fen int64) alipay.Amount { return alipay.Amount(fen) }
