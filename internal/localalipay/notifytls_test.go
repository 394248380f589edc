package localalipay_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// An https notify_url whose certificate no CA of the system vouches for is
// refused on the certificate, until that exact certificate is trusted
// (the MCP server's own --tls-cert in local mode).
func TestNotifyTLSPinnedCertificate(t *testing.T) {
	srv := startServer(t, localalipay.Options{NotifySchedule: []time.Duration{time.Hour}})
	got := make(chan struct{}, 10)
	sink := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		w.Write([]byte("success"))
	}))
	sink.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	sink.StartTLS()
	defer sink.Close()
	payNew(t, srv, sink.URL+"/notify", "TLS1", 100)
	var d *localalipay.TradeDetail
	waitFor(t, func() bool {
		var err error
		if d, err = srv.Trade(ctxT(t), "TLS1"); err != nil {
			t.Fatal(err)
		}
		return len(d.Notifications) == 1 && len(d.Notifications[0].Log) == 1
	})
	if a := d.Notifications[0].Log[0]; a.OK || !strings.Contains(a.Error, "certificate") || len(got) != 0 {
		t.Fatalf("an untrusted certificate was not refused: %+v", a)
	}
	srv.TrustNotifyCertificate(sink.Certificate().Raw)
	if err := srv.ResendNotification(ctxT(t), d.Notifications[0].NotifyID); err != nil {
		t.Fatal(err)
	}
	d = settledTrade(t, srv, "TLS1")
	n := d.Notifications[0]
	if n.State != "delivered" || len(n.Log) != 2 || !n.Log[1].OK {
		t.Fatalf("after trusting the certificate: %+v", n)
	}
}
