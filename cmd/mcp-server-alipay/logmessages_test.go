package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
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
	fset := token.NewFileSet()
	seen := 0
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
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				arg := -1
				switch sel.Sel.Name {
				case "Debug", "Info", "Warn", "Error":
					arg = 0
				case "Log", "LogAttrs":
					arg = 2 // ctx, level, msg
				}
				if arg < 0 || len(call.Args) <= arg {
					return true
				}
				lit, ok := call.Args[arg].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				msg, err := strconv.Unquote(lit.Value)
				if err != nil {
					return true
				}
				seen++
				han := func(r rune) bool { return unicode.Is(unicode.Han, r) }
				zh, en, ok := strings.Cut(msg, " / ")
				if !ok || !strings.ContainsFunc(zh, han) || strings.ContainsFunc(en, han) || strings.TrimSpace(en) == "" {
					t.Errorf("%s: log line %q: want Chinese, then \" / \" and the English", fset.Position(lit.Pos()), msg)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen < 20 {
		t.Fatalf("only %d log lines found: the test looks in the wrong place", seen)
	}
}
