package tools

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/mcp-server-alipay/mcp-server-alipay/internal/alipay"
)

// referenceTools reads testdata/seed-tools.json, a copy of the reference
// server's tools/list, independent of the embedded one.
func referenceTools(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/seed-tools.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	m := map[string]map[string]any{}
	for _, tl := range list {
		m[tl["name"].(string)] = tl
	}
	return m
}

func asJSONValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestInputSchemasMatchReference(t *testing.T) {
	ref := referenceTools(t)
	tools := referenceOnly(t, All(Deps{}))
	if len(tools) != len(ref) {
		t.Fatalf("%d tools, reference has %d", len(tools), len(ref))
	}
	for _, st := range tools {
		t.Run(st.Tool.Name, func(t *testing.T) {
			r, ok := ref[st.Tool.Name]
			if !ok {
				t.Fatalf("tool %s is not in the reference", st.Tool.Name)
			}
			if got := asJSONValue(t, st.Tool.InputSchema); !reflect.DeepEqual(got, r["inputSchema"]) {
				t.Errorf("input schema differs from the reference:\n got %v\nwant %v", got, r["inputSchema"])
			}
			if !strings.HasPrefix(st.Tool.Description, r["description"].(string)) {
				t.Errorf("description does not start with the reference's: %q", st.Tool.Description)
			}
		})
	}
}

// referenceOnly keeps the reference's five tools: they come first, and
// ours after them.
func referenceOnly(t *testing.T, all []ServerTool) []ServerTool {
	t.Helper()
	ref := referenceTools(t)
	for i, st := range all {
		if _, ok := ref[st.Tool.Name]; !ok {
			for _, rest := range all[i:] {
				if _, ok := ref[rest.Tool.Name]; ok {
					t.Fatalf("reference tool %s comes after our %s", rest.Tool.Name, st.Tool.Name)
				}
			}
			return all[:i]
		}
	}
	return all
}

// Our tools take the reference's definitions of the properties they share
// with it (outTradeNo, totalAmount, orderTitle), so a model sees one
// meaning for each; they forbid unknown properties like the reference's;
// and their output schemas have no multipleOf.
func TestOurSchemasFollowTheReference(t *testing.T) {
	ref := referenceTools(t)
	props := func(name string) map[string]any {
		return ref[name]["inputSchema"].(map[string]any)["properties"].(map[string]any)
	}
	// The QR tool makes an order like the desktop link; closing and
	// waiting name one like the payment query.
	// Listing orders shares no property with the reference.
	like := map[string]string{NameQRPay: NameWebPagePay, NameClosePay: NameQueryPay, NameWaitPay: NameQueryPay}
	all := All(Deps{})
	ours := all[len(referenceOnly(t, all)):]
	if len(ours) != 4 {
		t.Fatalf("%d tools of our own, want 4", len(ours))
	}
	for _, st := range ours {
		in := asJSONValue(t, st.Tool.InputSchema).(map[string]any)
		if in["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties must be false", st.Tool.Name)
		}
		var shared map[string]any
		if ref, ok := like[st.Tool.Name]; ok {
			shared = props(ref)
		}
		for k, want := range shared {
			if v := in["properties"].(map[string]any)[k]; !reflect.DeepEqual(v, want) {
				t.Errorf("%s.%s = %v, want %s's %v", st.Tool.Name, k, v, like[st.Tool.Name], want)
			}
		}
		if strings.Contains(string(must(json.Marshal(st.Tool.OutputSchema))), "multipleOf") {
			t.Errorf("%s: output schema has multipleOf", st.Tool.Name)
		}
	}
}

// The output schemas are the reference's with exactly two changes.
func TestOutputSchemasDifferOnlyOnPurpose(t *testing.T) {
	ref := referenceTools(t)
	for _, st := range referenceOnly(t, All(Deps{})) {
		t.Run(st.Tool.Name, func(t *testing.T) {
			want := asJSONValue(t, ref[st.Tool.Name]["outputSchema"]).(map[string]any)
			for key, p := range want["properties"].(map[string]any) {
				prop := p.(map[string]any)
				delete(prop, "multipleOf")
				if key == "url" {
					delete(prop, "description")
				}
			}
			got := asJSONValue(t, st.Tool.OutputSchema).(map[string]any)
			if strings.Contains(string(must(json.Marshal(got))), "multipleOf") {
				t.Errorf("output schema still has multipleOf")
			}
			if u, ok := got["properties"].(map[string]any)["url"].(map[string]any); ok {
				if u["format"] != "uri" || !strings.Contains(u["description"].(string), "plain payment URL") {
					t.Errorf("url property: %v", u)
				}
				delete(u, "description")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("output schema differs beyond the two fixes:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// The validator reads types and lengths from the schema; the amount bounds
// it enforces come from the alipay package and must equal the schema's.
func TestAmountBoundsMatchSchema(t *testing.T) {
	for _, st := range All(Deps{}) {
		var s struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(st.Tool.InputSchema.(json.RawMessage), &s); err != nil {
			t.Fatal(err)
		}
		for name, p := range s.Properties {
			if p["type"] != "number" {
				continue
			}
			if p["minimum"] != 0.01 || alipay.MinAmount != 1 {
				t.Errorf("%s.%s minimum %v", st.Tool.Name, name, p["minimum"])
			}
			if p["maximum"] != float64(alipay.MaxAmount/100) {
				t.Errorf("%s.%s maximum %v, alipay.MaxAmount is %s", st.Tool.Name, name, p["maximum"], alipay.MaxAmount)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Every tool needs one of the three scopes of the HTTP service's tokens: a
// new tool without one would be served to every token.
func TestEveryToolHasAScope(t *testing.T) {
	for _, st := range All(Deps{}) {
		s := ScopeOf(st.Tool.Name)
		if s == "" {
			t.Errorf("%s has no scope", st.Tool.Name)
		}
		if readOnly := st.Tool.Annotations.ReadOnlyHint; readOnly != (s == ScopeRead) {
			t.Errorf("%s: scope %s, but readOnlyHint %v", st.Tool.Name, s, readOnly)
		}
	}
}
