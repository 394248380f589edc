package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// bound is how long a test waits for something that must happen: a
// correctness bound, not a timing assertion.
const bound = 20 * time.Second

// connectWatching opens a session on protocol version (empty = the SDK's
// newest) whose client sends every notifications/resources/updated URI to
// the returned channel.
func (e *env) connectWatching(t *testing.T, version string) (*session, <-chan string) {
	t.Helper()
	updated := make(chan string, 64)
	opts := &mcp.ClientOptions{
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			select {
			case updated <- req.Params.URI:
			default:
			}
		},
	}
	return e.connectOpts(t, "e2e-watch", opts, &mcp.ClientSessionOptions{ProtocolVersion: version}), updated
}

// subscribe subscribes to uri and returns once the server has registered
// the subscription: at once on the legacy protocol, where resources/subscribe
// is answered after it; on the newest one, when the server acknowledges the
// subscriptions/listen stream.
func (s *session) subscribe(t *testing.T, uri string) {
	t.Helper()
	acks := strings.Count(s.wire.String(), "notifications/subscriptions/acknowledged")
	if err := s.Subscribe(context.Background(), &mcp.SubscribeParams{URI: uri}); err != nil {
		t.Fatalf("subscribe %s: %v", uri, err)
	}
	if s.InitializeResult().ProtocolVersion < "2026-07-28" {
		return
	}
	deadline := time.Now().Add(bound)
	for strings.Count(s.wire.String(), "notifications/subscriptions/acknowledged") == acks {
		if time.Now().After(deadline) {
			t.Fatalf("subscription to %s never acknowledged; wire:\n%s", uri, s.wire.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readTrade reads alipay://trade/<no> and decodes it.
func (s *session) readTrade(t *testing.T, no string) (map[string]any, string) {
	t.Helper()
	res, err := s.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "alipay://trade/" + no})
	if err != nil {
		t.Fatalf("read: %v\nstderr:\n%s", err, s.stderr.String())
	}
	if len(res.Contents) != 1 || res.Contents[0].MIMEType != "application/json" {
		t.Fatalf("contents %+v", res.Contents)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &m); err != nil {
		t.Fatal(err)
	}
	return m, res.Contents[0].Text
}

// A client subscribed to an order is told when the buyer pays, on both the
// legacy resources/subscribe and the newest subscriptions/listen.
func TestWatchNotifiesSubscriber(t *testing.T) {
	for _, version := range []string{"2025-11-25", ""} {
		name := version
		if name == "" {
			name = "newest"
		}
		t.Run(name, func(t *testing.T) {
			s, updated := newEnv(t, nil).connectWatching(t, version)
			if r := s.InitializeResult().Capabilities.Resources; r == nil || !r.Subscribe {
				t.Fatalf("resources capability %+v, want subscribe", r)
			}
			no := orderNo("WATCH")
			uri := "alipay://trade/" + no
			res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":88.80,"orderTitle":"定制插画 Custom illustration"}`)
			mustOK(t, res)
			if !strings.Contains(resText(res), "subscribe to "+uri) {
				t.Errorf("link text does not offer the subscription:\n%s", resText(res))
			}
			if m, raw := s.readTrade(t, no); m["tradeStatus"] != "NOT_OPENED" || m["paid"] != false {
				t.Errorf("before paying: %s", raw)
			}
			s.subscribe(t, uri)
			if _, err := localalipay.PayLink(context.Background(), structuredField(res, "url")); err != nil {
				t.Fatal(err)
			}
			// Every update is followed by a read; the order must show paid
			// within the bound.
			timeout := time.After(bound)
			for {
				select {
				case got := <-updated:
					if got != uri {
						continue
					}
					m, raw := s.readTrade(t, no)
					if m["tradeStatus"] != "TRADE_SUCCESS" {
						continue
					}
					if m["paid"] != true || m["outTradeNo"] != no || m["tradeNo"] == "" || !strings.Contains(raw, `"totalAmount":88.80,`) {
						t.Errorf("after paying: %s", raw)
					}
					return
				case <-timeout:
					t.Fatalf("no notifications/resources/updated for %s showing TRADE_SUCCESS\nwire:\n%s\nstderr:\n%s", uri, s.wire.String(), s.stderr.String())
				}
			}
		})
	}
}

// AP_WATCH_PAYMENTS=false: orders can be read, nothing is watched and
// subscribing is not offered.
func TestWatchDisabled(t *testing.T) {
	s, _ := newEnv(t, map[string]string{"AP_WATCH_PAYMENTS": "false"}).connectWatching(t, "2025-11-25")
	init := s.InitializeResult()
	if r := init.Capabilities.Resources; r == nil || r.Subscribe {
		t.Errorf("resources capability %+v, want reads without subscribe", r)
	}
	if strings.Contains(init.Instructions, "subscribe") {
		t.Error("instructions offer subscriptions")
	}
	no := orderNo("NOWATCH")
	res := s.call(t, tools.NameMobilePay, `{"outTradeNo":"`+no+`","totalAmount":1,"orderTitle":"t"}`)
	mustOK(t, res)
	if strings.Contains(resText(res), "alipay://trade/") {
		t.Errorf("link text offers a subscription:\n%s", resText(res))
	}
	if m, raw := s.readTrade(t, no); m["tradeStatus"] != "NOT_OPENED" {
		t.Errorf("read: %s", raw)
	}
	if err := s.Subscribe(context.Background(), &mcp.SubscribeParams{URI: "alipay://trade/" + no}); err == nil {
		t.Error("subscribe succeeded with AP_WATCH_PAYMENTS=false")
	}
}

// Without queryPay among AP_SELECT_TOOLS there is no order resource and no
// watching: reading an order is a payment query.
func TestWatchNeedsQueryPay(t *testing.T) {
	s := newEnv(t, map[string]string{"AP_SELECT_TOOLS": "webPagePay,refundPay"}).connect(t)
	if r := s.InitializeResult().Capabilities.Resources; r != nil {
		t.Errorf("resources capability %+v without queryPay", r)
	}
	no := orderNo("NOQUERY")
	res := s.call(t, tools.NameWebPagePay, `{"outTradeNo":"`+no+`","totalAmount":1,"orderTitle":"t"}`)
	mustOK(t, res)
	if strings.Contains(resText(res), "alipay://trade/") {
		t.Errorf("link text offers the resource:\n%s", resText(res))
	}
	if _, err := s.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "alipay://trade/" + no}); err == nil {
		t.Error("the order resource was readable without queryPay")
	}
}
