package localalipay_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// eventually polls cond every 20ms for up to 10s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 10s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A link stays payable after the process that made it exits, as long as
// another local Alipay on the same data directory runs: that one takes the
// port over.
func TestLinkOutlivesItsMaker(t *testing.T) {
	dir := newDataDir(t)
	keeper := startServer(t, localalipay.Options{DataDir: dir, PortPoll: 20 * time.Millisecond})
	maker, err := localalipay.Start(ctxT(t), localalipay.Options{DataDir: dir, PortPoll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	link, err := newClient(t, maker.Credentials(), nil).PagePayURL(alipay.PayRequest{OutTradeNo: "OUTLIVE1", TotalAmount: 1999, Subject: "插画"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, maker.URL()) {
		t.Fatalf("link %s is not on the maker's address %s", link, maker.URL())
	}
	if err := maker.Close(); err != nil { // the short-lived client exits
		t.Fatal(err)
	}
	var back string
	eventually(t, "pay the link of an exited process", func() (err error) {
		back, err = localalipay.PayLink(ctxT(t), link)
		return err
	})
	if !strings.Contains(back, "/cashier/paid") {
		t.Errorf("paid, sent to %s", back)
	}
	tr, err := keeper.Trade(ctxT(t), "OUTLIVE1")
	if err != nil || tr.Status != localalipay.StatusSuccess {
		t.Fatalf("trade after paying: %+v, %v", tr, err)
	}
}

// The control API's pay-link pays links of its own data directory whatever
// port they carry, and names what is wrong with the others.
func TestPayLinkOwnDataDir(t *testing.T) {
	dir := newDataDir(t)
	srv := startServer(t, localalipay.Options{DataDir: dir})
	sibling := startServer(t, localalipay.Options{DataDir: dir}) // another process on the same data dir
	stranger := startServer(t, localalipay.Options{DataDir: t.TempDir()})

	payLink := func(link string) (int, map[string]any) {
		b, _ := json.Marshal(map[string]string{"link": link})
		return control(t, "POST", srv.URL()+"/_local/pay-link", string(b), nil)
	}
	link, err := newClient(t, sibling.Credentials(), nil).WapPayURL(alipay.PayRequest{OutTradeNo: "SIBLING1", TotalAmount: 100, Subject: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if status, out := payLink(link); status != http.StatusOK {
		t.Fatalf("a sibling's link: HTTP %d %v", status, out)
	}

	link, err = newClient(t, stranger.Credentials(), nil).WapPayURL(alipay.PayRequest{OutTradeNo: "STRANGER1", TotalAmount: 100, Subject: "t"})
	if err != nil {
		t.Fatal(err)
	}
	status, out := payLink(link)
	e, _ := out["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if status != http.StatusBadRequest || e["code"] != "foreign_link" {
		t.Fatalf("another data directory's link: HTTP %d %v", status, out)
	}
	for _, w := range []string{stranger.Credentials().AppID, srv.Credentials().AppID, dir, "another data directory", "另一个数据目录"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q: %s", w, msg)
		}
	}
	if strings.Contains(msg, "host") || strings.Contains(msg, "主机") {
		t.Errorf("message blames the host: %s", msg)
	}
}

// A link whose every local Alipay has exited says so, and how to bring it
// back, instead of a bare connection error.
func TestLinkOfExitedDataDirExplained(t *testing.T) {
	maker, err := localalipay.Start(ctxT(t), localalipay.Options{DataDir: newDataDir(t), PortPoll: -1})
	if err != nil {
		t.Fatal(err)
	}
	link, err := newClient(t, maker.Credentials(), nil).PagePayURL(alipay.PayRequest{OutTradeNo: "GONE1", TotalAmount: 100, Subject: "t"})
	if err != nil {
		t.Fatal(err)
	}
	maker.Close()
	_, err = localalipay.PayLink(ctxT(t), link)
	if err == nil {
		t.Fatal("paying a link whose every local Alipay has exited succeeded")
	}
	for _, w := range []string{"nothing listens at", "has exited", "sandbox --data-dir", "没有本地模拟支付宝在监听"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
