package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/localalipay"
)

// linkCall calls create-web-page-alipay-payment with arguments written by
// hand and returns the first text content, isError and the structured url.
func linkCall(t *testing.T, w *rawWire, id, args string) (text string, isError bool, link string) {
	t.Helper()
	w.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"create-web-page-alipay-payment","arguments":` + args + `}}`)
	line := w.next()
	var resp struct {
		Result struct {
			IsError bool `json:"isError"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
			Structured struct {
				URL string `json:"url"`
			} `json:"structuredContent"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(line), &resp); err != nil || len(resp.Result.Content) == 0 {
		t.Fatalf("answer %v:\n%s", err, line)
	}
	return resp.Result.Content[0].Text, resp.Result.IsError, resp.Result.Structured.URL
}

// Text that decoding would silently change (invalid UTF-8, a lone
// surrogate) is refused naming the field, judged on the raw bytes the
// client sent; so are the characters Alipay refuses in subject. Line breaks
// are accepted and reach Alipay as one space.
func TestTextInputsOverTheWire(t *testing.T) {
	e := newEnv(t, nil)
	w := startRaw(t, e)
	no := orderNo("TXT")
	tests := []struct {
		name, title string // title as the raw bytes of a JSON string
		want        []string
	}{
		{"invalid UTF-8", "\"a\xff\xfeb\"", []string{"orderTitle", "UTF-8"}},
		{"lone high surrogate", `"a\ud800b"`, []string{"orderTitle", "lone surrogate", `\ud800`}},
		{"lone low surrogate", `"\udc01"`, []string{"orderTitle", "lone surrogate"}},
		{"slash", `"S/M"`, []string{"orderTitle", "'/'"}},
		{"ampersand", `"a&b"`, []string{"orderTitle", "'&'"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr, _ := linkCall(t, w, strings.Repeat("7", i+1), `{"outTradeNo":"`+no+`","totalAmount":1,"orderTitle":`+tt.title+`}`)
			if !isErr {
				t.Fatalf("accepted:\n%s", text)
			}
			for _, s := range append(tt.want, "未调用支付宝") {
				if !strings.Contains(text, s) {
					t.Errorf("error lacks %q:\n%s", s, text)
				}
			}
		})
	}
	t.Run("line breaks reach Alipay as one space", func(t *testing.T) {
		text, isErr, link := linkCall(t, w, "99", `{"outTradeNo":"`+no+`","totalAmount":1,"orderTitle":"定制插画\r\n第二行\u2028 第三行"}`)
		if isErr {
			t.Fatalf("refused:\n%s", text)
		}
		ctx := context.Background()
		if _, err := localalipay.OpenLink(ctx, link); err != nil {
			t.Fatalf("open link: %v", err)
		}
		// A second local Alipay on the same data directory sees the trade.
		srv, err := localalipay.Start(ctx, localalipay.Options{DataDir: e.dataDir})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		tr, err := srv.Trade(ctx, no)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Subject != "定制插画 第二行 第三行" {
			t.Errorf("subject at Alipay = %q, want %q", tr.Subject, "定制插画 第二行 第三行")
		}
	})
}
