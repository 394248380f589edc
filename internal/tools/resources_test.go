package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/paywatch"
)

// localDeps starts a local Alipay and returns Deps with a real client of it,
// and the server for fault injection.
func localDeps(t *testing.T) (Deps, *localalipay.Server) {
	t.Helper()
	s, err := localalipay.Start(context.Background(), localalipay.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg, err := s.Credentials().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxAttempts = 1
	c, err := alipay.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Deps{Client: c, Local: true}, s
}

// withWatcher adds a watcher on the wall clock with short waits.
func withWatcher(t *testing.T, d Deps) Deps {
	t.Helper()
	d.Watcher = paywatch.New(context.Background(), d.Client, paywatch.Options{Intervals: []time.Duration{20 * time.Millisecond}})
	t.Cleanup(d.Watcher.Close)
	return d
}

// connectUpdates connects a client on the legacy protocol, where
// resources/subscribe is a request answered after the subscription is
// registered, and sends every updated URI to the returned channel.
func connectUpdates(t *testing.T, o Options) (*mcp.ClientSession, <-chan string) {
	t.Helper()
	updated := make(chan string, 64)
	cs := connectClient(t, o, &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			select {
			case updated <- req.Params.URI:
			default:
			}
		},
	}, "2025-11-25")
	return cs, updated
}

func readStatus(t *testing.T, cs *mcp.ClientSession, no string) (tradeStatus, string) {
	t.Helper()
	res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: TradeURI(no)})
	if err != nil {
		t.Fatalf("read %s: %v", TradeURI(no), err)
	}
	if len(res.Contents) != 1 || res.Contents[0].MIMEType != "application/json" {
		t.Fatalf("contents %+v", res.Contents)
	}
	var st tradeStatus
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &st); err != nil {
		t.Fatalf("%s: %v", res.Contents[0].Text, err)
	}
	if _, err := time.Parse(time.RFC3339, st.CheckedAt); err != nil {
		t.Errorf("checkedAt %q: %v", st.CheckedAt, err)
	}
	return st, res.Contents[0].Text
}

// waitUpdated waits for an update of uri; a correctness bound, not timing.
func waitUpdated(t *testing.T, updated <-chan string, uri string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-updated:
			if got == uri {
				return
			}
		case <-timeout:
			t.Fatalf("no notifications/resources/updated for %s", uri)
		}
	}
}

func TestTradeResourceRead(t *testing.T) {
	d, srv := localDeps(t)
	cs := connect(t, Options{Deps: d})
	res := call(t, cs, NameWebPagePay, `{"outTradeNo":"RES-1","totalAmount":0.29,"orderTitle":"t"}`)
	wantOK(t, res)
	if strings.Contains(text(res), "alipay://trade/") {
		t.Errorf("link text offers a subscription without a watcher:\n%s", text(res))
	}
	st, raw := readStatus(t, cs, "RES-1")
	if st.TradeStatus != paywatch.NotOpened || st.Paid || st.TotalAmount != nil || st.TradeNo != "" || st.OutTradeNo != "RES-1" {
		t.Errorf("before the buyer opens the link: %s", raw)
	}
	var out struct{ URL string }
	json.Unmarshal([]byte(structured(t, res)), &out)
	if _, err := localalipay.PayLink(context.Background(), out.URL); err != nil {
		t.Fatal(err)
	}
	st, raw = readStatus(t, cs, "RES-1")
	if st.TradeStatus != paywatch.TradeSuccess || !st.Paid || st.TradeNo == "" || !strings.Contains(raw, `"totalAmount":0.29,`) {
		t.Errorf("after paying: %s", raw)
	}

	t.Run("bad URIs", func(t *testing.T) {
		for _, uri := range []string{"alipay://trade/" + strings.Repeat("x", 65), "alipay://trade/a.b", "alipay://trade/"} {
			_, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri})
			if err == nil || !strings.Contains(err.Error(), "alipay://trade/<outTradeNo>") {
				t.Errorf("%s: %v", uri, err)
			}
		}
		for _, uri := range []string{"alipay://refund/X", "alipay://trade/a b"} {
			if _, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri}); err == nil {
				t.Errorf("%s was read", uri)
			}
		}
	})
	t.Run("Alipay error", func(t *testing.T) {
		if err := srv.SetFaults(localalipay.Faults{SystemErrorRate: 1, SystemErrorKind: "acq", Methods: []string{alipay.MethodQuery}}); err != nil {
			t.Fatal(err)
		}
		defer srv.ClearFaults()
		_, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: TradeURI("RES-1")})
		if err == nil || !strings.Contains(err.Error(), "ACQ.SYSTEM_ERROR") || !strings.Contains(err.Error(), "Queries are safe to retry") {
			t.Errorf("read during a system error: %v", err)
		}
	})
	t.Run("incomplete answer", func(t *testing.T) {
		d, _ := newDeps(t, func(string, map[string]any) answer {
			return ok(`"trade_no":"2026","out_trade_no":"X","trade_status":"TRADE_SUCCESS","total_amount":"abc"`)
		})
		cs := connect(t, Options{Deps: d})
		_, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: TradeURI("X")})
		if err == nil || !strings.Contains(err.Error(), "incomplete") {
			t.Errorf("read of an incomplete answer: %v", err)
		}
	})
}

func TestTradeResourceAdvertised(t *testing.T) {
	d, _ := localDeps(t)
	tests := []struct {
		name      string
		deps      Deps
		subscribe bool
	}{
		{"without watcher", d, false},
		{"with watcher", withWatcher(t, d), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := connect(t, Options{Deps: tt.deps})
			init := cs.InitializeResult()
			r := init.Capabilities.Resources
			if r == nil || r.Subscribe != tt.subscribe || r.ListChanged || init.Capabilities.Logging != nil {
				t.Errorf("capabilities %+v resources %+v", init.Capabilities, r)
			}
			if got := strings.Contains(init.Instructions, "alipay://trade/<outTradeNo>"); got != tt.subscribe {
				t.Errorf("instructions mention subscriptions: %t", got)
			}
			lt, err := cs.ListResourceTemplates(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(lt.ResourceTemplates) != 1 {
				t.Fatalf("%d templates", len(lt.ResourceTemplates))
			}
			rt := lt.ResourceTemplates[0]
			if rt.URITemplate != TradeURITemplate || rt.MIMEType != "application/json" || rt.Name == "" ||
				!strings.Contains(rt.Title, "/") || !strings.Contains(rt.Description, "支付") || !strings.Contains(rt.Description, "paid") {
				t.Errorf("template %+v", rt)
			}
		})
	}
}

// A link starts a watch; a subscriber is told when the buyer pays.
func TestTradeSubscription(t *testing.T) {
	d, _ := localDeps(t)
	d = withWatcher(t, d)
	cs, updated := connectUpdates(t, Options{Deps: d})

	t.Run("link made here", func(t *testing.T) {
		res := call(t, cs, NameMobilePay, `{"outTradeNo":"SUB-1","totalAmount":19.99,"orderTitle":"t"}`)
		wantOK(t, res)
		if !d.Watcher.Watching("SUB-1") {
			t.Error("creating a link did not start a watch")
		}
		if !strings.Contains(text(res), "subscribe to alipay://trade/SUB-1") || !strings.Contains(text(res), "订阅资源 alipay://trade/SUB-1") {
			t.Errorf("link text lacks the subscription line:\n%s", text(res))
		}
		if err := cs.Subscribe(context.Background(), &mcp.SubscribeParams{URI: TradeURI("SUB-1")}); err != nil {
			t.Fatal(err)
		}
		var out struct{ URL string }
		json.Unmarshal([]byte(structured(t, res)), &out)
		if _, err := localalipay.PayLink(context.Background(), out.URL); err != nil {
			t.Fatal(err)
		}
		waitForStatus(t, cs, updated, "SUB-1", paywatch.TradeSuccess)
	})
	t.Run("order made elsewhere", func(t *testing.T) {
		link, err := d.Client.PagePayURL(alipay.PayRequest{OutTradeNo: "SUB-2", TotalAmount: 700, Subject: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Watcher.Watching("SUB-2") {
			t.Fatal("watched before anyone asked")
		}
		if err := cs.Subscribe(context.Background(), &mcp.SubscribeParams{URI: TradeURI("SUB-2")}); err != nil {
			t.Fatal(err)
		}
		if !d.Watcher.Watching("SUB-2") {
			t.Error("subscribing did not start a watch")
		}
		if _, err := localalipay.PayLink(context.Background(), link); err != nil {
			t.Fatal(err)
		}
		st := waitForStatus(t, cs, updated, "SUB-2", paywatch.TradeSuccess)
		if st.TotalAmount == nil || *st.TotalAmount != 700 {
			t.Errorf("amount %v, want 7.00", st.TotalAmount)
		}
		if err := cs.Unsubscribe(context.Background(), &mcp.UnsubscribeParams{URI: TradeURI("SUB-2")}); err != nil {
			t.Error(err)
		}
	})
	t.Run("bad URI", func(t *testing.T) {
		err := cs.Subscribe(context.Background(), &mcp.SubscribeParams{URI: "alipay://trade/../x"})
		if err == nil || !strings.Contains(err.Error(), "invalid resource URI") {
			t.Errorf("subscribe to a bad URI: %v", err)
		}
	})
}

// waitForStatus reads the order on every update until it shows want.
func waitForStatus(t *testing.T, cs *mcp.ClientSession, updated <-chan string, no, want string) tradeStatus {
	t.Helper()
	for range 10 {
		waitUpdated(t, updated, TradeURI(no))
		if st, _ := readStatus(t, cs, no); st.TradeStatus == want {
			return st
		}
	}
	t.Fatalf("%s never showed %s", no, want)
	return tradeStatus{}
}

// The order status resource is a payment query: it, and watching, come only
// with query-alipay-payment among the selected tools.
func TestTradeResourceFollowsQueryPay(t *testing.T) {
	d, _ := localDeps(t)
	tests := []struct {
		name     string
		tools    []string
		resource bool
	}{
		{"all tools", nil, true},
		{"queryPay alone", []string{NameQueryPay}, true},
		{"links and queryPay", []string{NameMobilePay, NameQueryPay}, true},
		{"links and refunds without queryPay", []string{NameMobilePay, NameRefundPay, NameRefundQuery}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dw := withWatcher(t, d)
			cs := connect(t, Options{Deps: dw, Tools: tt.tools})
			init := cs.InitializeResult()
			if got := init.Capabilities.Resources != nil; got != tt.resource {
				t.Errorf("resources capability %+v, want present=%t", init.Capabilities.Resources, tt.resource)
			}
			if got := strings.Contains(init.Instructions, "alipay://trade/"); got != tt.resource {
				t.Errorf("instructions mention the resource: %t, want %t", got, tt.resource)
			}
			lt, err := cs.ListResourceTemplates(context.Background(), nil)
			if got := err == nil && len(lt.ResourceTemplates) == 1; got != tt.resource {
				t.Errorf("resource templates listed: %t (err %v), want %t", got, err, tt.resource)
			}
			_, err = cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: TradeURI("SEL-0")})
			if got := err == nil; got != tt.resource {
				t.Errorf("read succeeded: %t (err %v), want %t", got, err, tt.resource)
			}
			if tt.tools != nil && !slices.Contains(tt.tools, NameMobilePay) {
				return
			}
			no := fmt.Sprintf("SEL-%d", i+1)
			res := call(t, cs, NameMobilePay, `{"outTradeNo":"`+no+`","totalAmount":1,"orderTitle":"t"}`)
			wantOK(t, res)
			if got := dw.Watcher.Watching(no); got != tt.resource {
				t.Errorf("link started a watch: %t, want %t", got, tt.resource)
			}
			if got := strings.Contains(text(res), "alipay://trade/"+no); got != tt.resource {
				t.Errorf("link text offers the resource: %t, want %t:\n%s", got, tt.resource, text(res))
			}
		})
	}
}
