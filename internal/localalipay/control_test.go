package localalipay_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

func control(t *testing.T, method, u, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, u, b)
	}
	return resp.StatusCode, out
}

func TestControlAPI(t *testing.T) {
	srv := startServer(t, localalipay.Options{})
	sink := newSink(t, func(n int) string { return "success" })
	cl := newClient(t, srv.Credentials(), func(c *alipay.Config) { c.NotifyURL = sink.URL })
	ctx := ctxT(t)
	for _, otn := range []string{"K1", "K2", "K3"} {
		link, _ := cl.PagePayURL(alipay.PayRequest{OutTradeNo: otn, TotalAmount: 250, Subject: "control"})
		if _, err := localalipay.OpenLink(ctx, link); err != nil {
			t.Fatal(err)
		}
	}
	base := srv.URL() + "/_local"
	steps := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		check                    func(t *testing.T, out map[string]any)
	}{
		{"list", "GET", "/trades", "", nil, 200, func(t *testing.T, out map[string]any) {
			if n := len(out["trades"].([]any)); n != 3 {
				t.Fatalf("%d trades", n)
			}
		}},
		{"pay", "POST", "/trades/K1/pay", "", nil, 200, func(t *testing.T, out map[string]any) {
			tr := out["trade"].(map[string]any)
			if tr["trade_status"] != "TRADE_SUCCESS" || !strings.Contains(out["redirect_url"].(string), "/cashier/paid?") {
				t.Fatalf("%v", out)
			}
		}},
		{"close", "POST", "/trades/K2/close", "", nil, 200, func(t *testing.T, out map[string]any) {
			if out["trade_status"] != "TRADE_CLOSED" || out["close_reason"] != "closed" {
				t.Fatalf("%v", out)
			}
		}},
		{"expire", "POST", "/trades/K3/expire", "", nil, 200, func(t *testing.T, out map[string]any) {
			if out["trade_status"] != "TRADE_CLOSED" || out["close_reason"] != "expired" {
				t.Fatalf("%v", out)
			}
		}},
		{"close a paid trade", "POST", "/trades/K1/close", "", nil, 409, func(t *testing.T, out map[string]any) {
			if out["error"].(map[string]any)["code"] != "ACQ.TRADE_STATUS_ERROR" {
				t.Fatalf("%v", out)
			}
		}},
		{"unknown trade", "POST", "/trades/NOPE/pay", "", nil, 404, nil},
		{"faults", "POST", "/faults", `{"latency_ms":5,"methods":["alipay.trade.query"]}`, nil, 200, func(t *testing.T, out map[string]any) {
			if out["latency_ms"] != float64(5) {
				t.Fatalf("%v", out)
			}
		}},
		{"bad faults", "POST", "/faults", `{"http_502_rate":7}`, nil, 400, nil},
		{"unknown fault field", "POST", "/faults", `{"nope":1}`, nil, 400, nil},
		{"clear faults", "DELETE", "/faults", "", nil, 200, func(t *testing.T, out map[string]any) {
			if len(out) != 0 {
				t.Fatalf("%v", out)
			}
		}},
		{"foreign Host (DNS rebinding)", "GET", "/trades", "", map[string]string{"Host": "evil.example:8849"}, 403, nil},
		{"cross-site browser", "POST", "/trades/K1/pay", "", map[string]string{"Origin": "https://evil.example"}, 403, nil},
		{"credentials", "GET", "/credentials", "", nil, 200, func(t *testing.T, out map[string]any) {
			if out["AP_APP_ID"] != srv.Credentials().AppID || out["AP_GATEWAY_URL"] != srv.Credentials().GatewayURL {
				t.Fatalf("%v", out)
			}
		}},
		{"unknown endpoint", "GET", "/nope", "", nil, 404, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			status, out := control(t, st.method, base+st.path, st.body, st.hdr)
			if status != st.status {
				t.Fatalf("HTTP %d, want %d: %v", status, st.status, out)
			}
			if st.check != nil {
				st.check(t, out)
			}
		})
	}
	// Three notifications (paid, closed, expired) were delivered; a resend
	// sends one again with the same notify_id.
	seen := map[string]string{}
	for range 3 {
		n := sink.next(t)
		seen[n.Get("out_trade_no")] = n.Get("notify_id")
		t.Log(n.Get("out_trade_no"), n.Get("trade_status"))
	}
	status, _ := control(t, "POST", base+"/notifications/"+seen["K2"]+"/resend", "", nil)
	if status != 200 {
		t.Fatalf("resend: HTTP %d", status)
	}
	if n := sink.next(t); n.Get("notify_id") != seen["K2"] {
		t.Fatalf("resent %v", n)
	}
	status, out := control(t, "GET", base+"/trades/K2", "", nil)
	notes := out["notifications"].([]any)
	if status != 200 || len(notes) != 1 || notes[0].(map[string]any)["params"].(map[string]any)["trade_status"] != "TRADE_CLOSED" {
		t.Fatalf("trade detail: %v", out)
	}
}
