package tools

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/config"
)

// Guards over all tools at once.
func TestToolGuards(t *testing.T) {
	tools := All(Deps{})
	seen := map[string]bool{}
	for i, st := range tools {
		tl := st.Tool
		if seen[tl.Name] {
			t.Errorf("duplicate tool name %s", tl.Name)
		}
		seen[tl.Name] = true
		if st.Handler == nil {
			t.Errorf("%s has no handler", tl.Name)
		}
		a := tl.Annotations
		if a == nil || a.DestructiveHint == nil || a.OpenWorldHint == nil || a.Title == "" || tl.Title == "" {
			t.Errorf("%s: every annotation hint and the title must be set explicitly: %+v", tl.Name, a)
			continue
		}
		// Every tool talks to Alipay but listOrders, which reads the ledger only.
		if *a.OpenWorldHint != (tl.Name != NameListOrders) {
			t.Errorf("%s: openWorldHint = %t; only list-alipay-orders never talks to Alipay", tl.Name, *a.OpenWorldHint)
		}
		if a.ReadOnlyHint && *a.DestructiveHint {
			t.Errorf("%s: read-only yet destructive", tl.Name)
		}
		if tl.OutputSchema == nil || tl.InputSchema == nil || tl.Description == "" {
			t.Errorf("%s: schemas and description are required", tl.Name)
		}
		if _, err := os.Stat(filepath.Join("__toolsnaps__", tl.Name+".snap")); err != nil {
			t.Errorf("%s: snapshot missing: %v", tl.Name, err)
		}
		// AP_SELECT_TOOLS speaks the same names, in the same order.
		if i >= len(config.ToolNames) || config.ToolNames[i].Full != tl.Name || config.ToolNames[i].Short != st.Short ||
			config.ToolNames[i].OptIn != st.OptIn {
			t.Errorf("tool %d (%s/%s) does not match config.ToolNames", i, st.Short, tl.Name)
		}
	}
	if len(tools) != len(config.ToolNames) {
		t.Errorf("%d tools, config knows %d", len(tools), len(config.ToolNames))
	}
}

func TestAnnotationsPerKind(t *testing.T) {
	want := map[string][3]bool{ // readOnly, destructive, idempotent
		NameMobilePay:   {false, false, false},
		NameWebPagePay:  {false, false, false},
		NameQueryPay:    {true, false, true},
		NameRefundPay:   {false, true, true},
		NameRefundQuery: {true, false, true},
		NameQRPay:       {false, false, false},
		NameClosePay:    {false, true, true},
		NameWaitPay:     {true, false, true},
		NameListOrders:  {true, false, true},
	}
	for _, st := range All(Deps{}) {
		a := st.Tool.Annotations
		got := [3]bool{a.ReadOnlyHint, *a.DestructiveHint, a.IdempotentHint}
		if got != want[st.Tool.Name] {
			t.Errorf("%s: readOnly/destructive/idempotent = %v, want %v", st.Tool.Name, got, want[st.Tool.Name])
		}
	}
}
