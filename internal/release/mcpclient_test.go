package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
	"github.com/mcp-server-alipay/mcp-server-alipay/internal/tools"
)

// lockedBuf collects a subprocess's stderr while the test reads it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// localEnv is a minimal environment for a server in local mode with its own
// home and data directory; extra entries are appended.
func localEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AP_CURRENT_ENV=local",
		"AP_LOCAL_DATA_DIR=" + home + "/local",
		"AP_LOG_ENABLED=false",
	}, extra...)
}

// serveCheck connects a real MCP client (the Go SDK's) to the server cmd
// starts, however it starts it, and checks what a user needs: the tools
// are listed, a payment link is made in local mode, the buyer pays it and
// the query says so. It returns the listed tools.
func serveCheck(t *testing.T, cmd *exec.Cmd) []*mcp.Tool {
	t.Helper()
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "release-test", Version: "0"}, nil)
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect to %v: %v\nstderr:\n%s", cmd.Args, err, stderr.String())
	}
	defer cs.Close()
	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v\nstderr:\n%s", err, stderr.String())
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	for _, want := range []string{tools.NameMobilePay, tools.NameWebPagePay, tools.NameQueryPay, tools.NameRefundPay, tools.NameRefundQuery} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list lacks %s: %v", want, names)
		}
	}
	no := fmt.Sprintf("REL%d", time.Now().UnixNano())
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameWebPagePay,
		Arguments: json.RawMessage(`{"outTradeNo":"` + no + `","totalAmount":19.99,"orderTitle":"定制插画"}`)})
	if err != nil || res.IsError {
		t.Fatalf("create link: %v %+v\nstderr:\n%s", err, res, stderr.String())
	}
	var link struct {
		URL string `json:"url"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &link); err != nil || !strings.HasPrefix(link.URL, "http://127.0.0.1:") {
		t.Fatalf("no local payment URL in %s", b)
	}
	if _, err := localalipay.PayLink(ctx, link.URL); err != nil {
		t.Fatalf("pay %s: %v", link.URL, err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: tools.NameQueryPay, Arguments: json.RawMessage(`{"outTradeNo":"` + no + `"}`)})
	if err != nil || res.IsError {
		t.Fatalf("query: %v %+v", err, res)
	}
	b, _ = json.Marshal(res.StructuredContent)
	if !strings.Contains(string(b), `"tradeStatus":"TRADE_SUCCESS"`) || !strings.Contains(string(b), `"totalAmount":19.99`) {
		t.Fatalf("query after paying: %s", b)
	}
	return list.Tools
}
