package notify_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/notify"
)

// TestSellerID: notes §7.6 item 3. A notification validly signed by
// Alipay, for our app, order and amount, but naming another seller_id is
// answered "fail", counted rejected, logged and never pays the order; the
// expected seller is AP_SELLER_ID when set, otherwise the one the first
// notification that passed every check pinned in the ledger: one per app
// and environment, which a notification naming another auth_app_id does
// not escape. A self-use app (no AP_INVOKE_AUTH_TOKEN) refuses an
// auth_app_id other than its own.
func TestSellerID(t *testing.T) {
	const ours, theirs = "2088102177000000", "2088999999999999"
	const otherApp = "2021000000000777"
	type post struct {
		name      string
		no        string
		seller    string // "" = no seller_id at all
		auth      string // auth_app_id; "" = the app's own, "-" = none
		amount    string
		want      string // the answer
		paid      bool   // the order afterwards
		rejection string // in the log, when rejected
	}
	for _, tc := range []struct {
		name     string
		sellerID string // notify.Options.SellerID (AP_SELLER_ID)
		provider bool   // notify.Options.ServiceProvider (AP_INVOKE_AUTH_TOKEN set)
		posts    []post
	}{
		{"AP_SELLER_ID", ours, false, []post{
			{"another seller first", "S1", theirs, "", "1.00", "fail", false, "seller_id"},
			{"no seller_id", "S1", "", "", "1.00", "fail", false, "no seller_id"},
			{"ours", "S1", ours, "", "1.00", "success", true, ""},
			{"another seller on another order", "S2", theirs, "", "1.00", "fail", false, "seller_id"},
		}},
		{"pinned by the first accepted notification", "", false, []post{
			// A notification failing another check pins nothing.
			{"wrong amount, another seller", "S1", theirs, "", "0.01", "fail", false, "total_amount"},
			{"no seller_id", "S1", "", "", "1.00", "fail", false, "no seller_id"},
			{"the first accepted pins ours", "S1", ours, "", "1.00", "success", true, ""},
			{"another seller on another order", "S2", theirs, "", "1.00", "fail", false, "seller_id"},
			// A self-use app: another authorising app is refused, with
			// our seller too (before any pin is read or written).
			{"another auth_app_id, our seller", "S2", ours, otherApp, "1.00", "fail", false, "auth_app_id"},
			{"ours on that order, no auth_app_id", "S2", ours, "-", "1.00", "success", true, ""},
		}},
		{"service provider: one pin whatever auth_app_id says", "", true, []post{
			{"the first accepted pins ours", "S1", ours, otherApp, "1.00", "success", true, ""},
			// The bypass: another auth_app_id and another seller after
			// the pin must not get a pin of its own.
			{"another auth_app_id and another seller", "S2", theirs, "2021000000000888", "1.00", "fail", false, "seller_id"},
			{"the app's own auth_app_id, another seller", "S2", theirs, "", "1.00", "fail", false, "seller_id"},
			{"ours on that order", "S2", ours, otherApp, "1.00", "success", true, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHandSigned(t)
			rc := startReceiver(t, hs.appID, &hs.key.PublicKey, func(o *notify.Options) {
				o.SellerID, o.ServiceProvider = tc.sellerID, tc.provider
			})
			rc.newOrder(t, "S1", 100)
			rc.newOrder(t, "S2", 100)
			for i, p := range tc.posts {
				params := hs.params(p.no, "n-seller-"+string(rune('a'+i)), p.amount)
				delete(params, "seller_id")
				if p.seller != "" {
					params["seller_id"] = p.seller
				}
				switch p.auth {
				case "-":
					delete(params, "auth_app_id")
				case "":
				default:
					params["auth_app_id"] = p.auth
				}
				result := notify.Verified
				if p.want != "success" {
					result = notify.Rejected
				}
				before := rc.counts.get(result)
				resp, err := http.Post(rc.url, "application/x-www-form-urlencoded", strings.NewReader(hs.sign(t, params, nil).Encode()))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != p.want {
					t.Fatalf("%s: answer %q, want %q; log:\n%s", p.name, b, p.want, rc.logText())
				}
				if got := rc.counts.get(result); got != before+1 {
					t.Errorf("%s: count %s = %d, want %d", p.name, result, got, before+1)
				}
				if o := rc.order(t, p.no); o.Paid() != p.paid {
					t.Errorf("%s: order %s paid = %v, want %v", p.name, p.no, o.Paid(), p.paid)
				}
				if p.rejection != "" {
					lines := strings.Split(strings.TrimSpace(rc.logText()), "\n")
					last := lines[len(lines)-1]
					if !strings.Contains(last, "答复 fail") || !strings.Contains(last, "rejected") || !strings.Contains(last, p.rejection) {
						t.Errorf("%s: log line %q does not say why", p.name, last)
					}
				}
			}
			// Only verified notifications are recorded as such: none from
			// another seller.
			for _, no := range []string{"S1", "S2"} {
				ns, err := rc.acct.Notifications(context.Background(), no)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range ns {
					if n.Verified && n.Params["seller_id"] != ours {
						t.Errorf("%s: verified notification from seller %q", no, n.Params["seller_id"])
					}
				}
			}
		})
	}
}
