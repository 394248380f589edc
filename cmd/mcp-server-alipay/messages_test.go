package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	// englishPhrase is two English words in a row.
	englishPhrase = regexp.MustCompile(`[A-Za-z]{2,}[ ,;:'()]+[a-z]{2,}`)
	// codeRE is what reads the same in both languages: flags, format verbs,
	// commands, identifiers, URLs, quoted code.
	codeRE = regexp.MustCompile("<[^>]+>|`[^`]*`|https?://\\S+|--?[a-z][a-z-]*( [A-Z_]+)?|%[-+# 0-9.]*[a-zA-Z]|mcp-server-alipay( [a-z-]+)?|\\b[A-Za-z0-9]+([._/-][A-Za-z0-9<>]+)+\\b|\\b[A-Z][A-Z0-9_]+\\b")
	// pairBoundary ends one sentence before the next pair begins.
	pairBoundary = regexp.MustCompile(`[.;:!?。；：]\s*[X0-9 ]*$`)
	// labelRE is a leading "who or what: " label.
	labelRE = regexp.MustCompile(`^[\s✗✓!•-]*[^\p{Han}:\n]{0,40}?: `)
	// parenHan is a bracketed group holding Chinese.
	parenHan = regexp.MustCompile(`\([^()]*\p{Han}[^()]*\)`)
)

func isHanRune(r rune) bool { return unicode.Is(unicode.Han, r) }

// messageProblem says what is wrong with a user-facing text that mixes
// Chinese and English, or "" when it follows the convention: Chinese first,
// then " / " and the English. It judges each " / "-separated part.
func messageProblem(s string) string {
	if !strings.ContainsFunc(s, isHanRune) || !englishPhrase.MatchString(s) {
		return ""
	}
	for _, line := range strings.Split(s, "\n") {
		line = codeRE.ReplaceAllString(line, "X")
		orig := line
		for _, part := range strings.Split(line, " / ") {
			part = labelRE.ReplaceAllString(part, "")
			han := strings.IndexFunc(part, isHanRune)
			if han < 0 {
				continue
			}
			// "english of one pair. 中文 of the next" is fine: the English
			// ends (., ;, :) before the next Chinese begins.
			if loc := englishPhrase.FindStringIndex(part); loc != nil && loc[0] < han && !pairBoundary.MatchString(part[loc[1]:han]) {
				return "English before Chinese without \" / \" between them: " + strings.TrimSpace(orig)
			}
			for _, m := range parenHan.FindAllStringIndex(part, -1) {
				before := part[:m[0]]
				if !strings.ContainsFunc(before, isHanRune) && englishPhrase.MatchString(before) {
					return "Chinese in brackets after English: " + strings.TrimSpace(orig)
				}
			}
		}
	}
	return ""
}

func TestMessageProblem(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"金额无效 / invalid amount", false},
		{"invalid amount (金额无效)", true},
		{"sandbox: stopping; queued (未送达的通知会继续发送)", true},
		{"the link is not valid 链接无效", true},
		{"mcp-server-alipay: 配置无效, 未启动 / invalid configuration, not started:", false},
		{"AP_APP_ID: 必填 / required", false},
		{"- 金额 / amount: ¥1.00", false},
		{"二维码有效分钟数 (1 至 21600) / minutes (1 to 21600)", false},
		{"only English here", false},
		{"只有中文", false},
	} {
		if got := messageProblem(tt.s) != ""; got != tt.want {
			t.Errorf("messageProblem(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// Every user-facing text in cmd/ and internal/ follows one convention:
// Chinese first, then " / " and the English; never English first, never
// Chinese in brackets after the English.
func TestMessagesChineseFirst(t *testing.T) {
	eachSourceNode(t, func(fset *token.FileSet, n ast.Node) {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return
		}
		if p := messageProblem(s); p != "" {
			t.Error(fset.Position(lit.Pos()).String() + ": " + clip(p))
		}
	})
}

// eachSourceNode calls visit for every syntax node of every non-test Go
// file in cmd/ and internal/.
func eachSourceNode(t *testing.T, visit func(*token.FileSet, ast.Node)) {
	t.Helper()
	fset := token.NewFileSet()
	for _, root := range []string{"../../cmd", "../../internal"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if n != nil {
					visit(fset, n)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func clip(s string) string {
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}
