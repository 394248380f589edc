package main

import (
	"go/ast"
	"go/token"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestLogLinesChineseFirst: every log line's message, in every package of
// this module (slog's Debug, Info, Warn, Error, Log and LogAttrs), is
// Chinese, then " / " and the English, like every other message an
// operator reads.
func TestLogLinesChineseFirst(t *testing.T) {
	seen := 0
	eachSourceNode(t, func(fset *token.FileSet, n ast.Node) {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return
		}
		arg := -1
		switch sel.Sel.Name {
		case "Debug", "Info", "Warn", "Error":
			arg = 0
		case "Log", "LogAttrs":
			arg = 2 // ctx, level, msg
		}
		if arg < 0 || len(call.Args) <= arg {
			return
		}
		lit, ok := call.Args[arg].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return
		}
		msg, err := strconv.Unquote(lit.Value)
		if err != nil {
			return
		}
		seen++
		han := func(r rune) bool { return unicode.Is(unicode.Han, r) }
		zh, en, ok := strings.Cut(msg, " / ")
		if !ok || !strings.ContainsFunc(zh, han) || strings.ContainsFunc(en, han) || strings.TrimSpace(en) == "" {
			t.Errorf("%s: log line %q: want Chinese, then \" / \" and the English", fset.Position(lit.Pos()), msg)
		}
	})
	if seen < 20 {
		t.Fatalf("only %d log lines found: the test looks in the wrong place", seen)
	}
}
