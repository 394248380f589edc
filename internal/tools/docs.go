package tools

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// README markers around the generated tool section.
const (
	DocsStart = "<!-- START TOOLS -->"
	DocsEnd   = "<!-- END TOOLS -->"
)

// Markdown documents the tools for the README, from their definitions, so
// the README cannot drift from the code.
func Markdown(list []ServerTool) string {
	var b strings.Builder
	b.WriteString(DocsStart + "\n")
	b.WriteString("<!-- 由代码生成, 请勿手改 / generated from internal/tools; refresh with: UPDATE_README=true go test ./internal/tools/ -->\n")
	for _, st := range list {
		t := st.Tool
		a := t.Annotations
		fmt.Fprintf(&b, "\n### `%s` — %s\n\n", t.Name, t.Title)
		fmt.Fprintf(&b, "AP_SELECT_TOOLS: `%s` · readOnly: %s · destructive: %s · idempotent: %s · openWorld: %s\n\n",
			st.Short, yesNo(a.ReadOnlyHint), yesNo(*a.DestructiveHint), yesNo(a.IdempotentHint), yesNo(*a.OpenWorldHint))
		b.WriteString(t.Description + "\n\n")
		b.WriteString("| 参数 / Argument | 类型 / Type | 必填 / Required | 说明 / Description |\n|---|---|---|---|\n")
		for _, p := range schemaProps(t.InputSchema) {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.name, p.kind(), yesNo(p.required), p.Description)
		}
		b.WriteString("\n输出 / Output (`structuredContent`):")
		for _, p := range schemaProps(t.OutputSchema) {
			fmt.Fprintf(&b, " `%s` (%s)", p.name, p.kind())
		}
		b.WriteString("\n")
	}
	b.WriteString("\n" + DocsEnd)
	return b.String()
}

type prop struct {
	name        string
	required    bool
	Type        string   `json:"type"`
	Description string   `json:"description"`
	MaxLength   int      `json:"maxLength"`
	Minimum     *float64 `json:"minimum"`
	Maximum     *float64 `json:"maximum"`
	Format      string   `json:"format"`
}

func (p prop) kind() string {
	switch {
	case p.Type == "number" && p.Minimum != nil && p.Maximum != nil:
		return fmt.Sprintf("number, %s–%s, ≤2 decimals", strconv.FormatFloat(*p.Minimum, 'f', -1, 64), strconv.FormatFloat(*p.Maximum, 'f', -1, 64))
	case idFields[p.name]:
		return fmt.Sprintf("string, 1–%d of `A-Z a-z 0-9 _ -`", p.MaxLength)
	case p.MaxLength > 0:
		return fmt.Sprintf("string, ≤%d chars", p.MaxLength)
	case p.Format != "":
		return p.Type + ", " + p.Format
	}
	return p.Type
}

// schemaProps lists a schema's properties, required ones first in their
// declared order, then the optional ones by name.
func schemaProps(schema any) []prop {
	raw, _ := schema.(json.RawMessage)
	var s struct {
		Properties map[string]prop `json:"properties"`
		Required   []string        `json:"required"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		panic(fmt.Sprintf("tools: schema for docs: %v", err))
	}
	var out []prop
	seen := map[string]bool{}
	for _, r := range s.Required {
		p := s.Properties[r]
		p.name, p.required = r, true
		out = append(out, p)
		seen[r] = true
	}
	var rest []string
	for k := range s.Properties {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		p := s.Properties[k]
		p.name = k
		out = append(out, p)
	}
	return out
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
