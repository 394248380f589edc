package tools

import (
	"fmt"
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
		optIn := ""
		if st.OptIn {
			optIn = " (不在 `all` 中, 需要单独列出 / not in `all`: name it)"
		}
		fmt.Fprintf(&b, "AP_SELECT_TOOLS: `%s`%s · readOnly: %s · destructive: %s · idempotent: %s · openWorld: %s\n\n",
			st.Short, optIn, yesNo(a.ReadOnlyHint), yesNo(*a.DestructiveHint), yesNo(a.IdempotentHint), yesNo(*a.OpenWorldHint))
		b.WriteString(t.Description + "\n\n")
		b.WriteString("| 参数 / Argument | 类型 / Type | 必填 / Required | 说明 / Description |\n|---|---|---|---|\n")
		for _, p := range schemaProps(t.InputSchema) {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", p.name, p.kind(), yesNo(p.required), p.Description)
		}
		b.WriteString("\n输出 / Output (`structuredContent`):")
		for _, p := range schemaProps(t.OutputSchema) {
			fmt.Fprintf(&b, " `%s` (%s)", p.name, p.outputKind())
		}
		b.WriteString("\n")
	}
	b.WriteString("\n" + DocsEnd)
	return b.String()
}

func (p prop) kind() string {
	switch {
	case p.Type == "integer" && p.Minimum != nil && p.Maximum != nil:
		return fmt.Sprintf("integer, %s–%s", strconv.FormatFloat(*p.Minimum, 'f', -1, 64), strconv.FormatFloat(*p.Maximum, 'f', -1, 64))
	case len(p.Enum) > 0:
		return p.Type + ", one of " + "`" + strings.Join(p.Enum, "` `") + "`"
	case p.Type == "number" && p.Minimum != nil && p.Maximum != nil:
		return fmt.Sprintf("number, %s–%s, ≤2 decimals", strconv.FormatFloat(*p.Minimum, 'f', -1, 64), strconv.FormatFloat(*p.Maximum, 'f', -1, 64))
	case idFields[p.name]:
		return fmt.Sprintf("string, 1–%d of `A-Z a-z 0-9 _ -`", p.MaxLength)
	case p.name == subjectField:
		return fmt.Sprintf("string, ≤%d chars, no `/` `=` `&`; line breaks reach Alipay as one space", p.MaxLength)
	case p.name == "refundReason":
		return fmt.Sprintf("string, ≤%d chars; line breaks reach Alipay as one space", p.MaxLength)
	case p.MaxLength > 0:
		return fmt.Sprintf("string, ≤%d chars", p.MaxLength)
	case p.Format != "":
		return p.Type + ", " + p.Format
	}
	return p.Type
}

// outputKind is kind for a property of a result: what the server sends,
// so nothing about what reaches Alipay.
func (p prop) outputKind() string {
	if p.Type == "string" && p.MaxLength > 0 && len(p.Enum) == 0 && !idFields[p.name] {
		return fmt.Sprintf("string, ≤%d chars", p.MaxLength)
	}
	return p.kind()
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
