package tools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's tool section is generated from the code; this fails when
// they disagree. UPDATE_README=true rewrites the section.
func TestReadmeToolsSection(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start, end := strings.Index(readme, DocsStart), strings.Index(readme, DocsEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the %s … %s markers", DocsStart, DocsEnd)
	}
	want := Markdown(All(Deps{}))
	got := readme[start : end+len(DocsEnd)]
	if got == want {
		return
	}
	if os.Getenv("UPDATE_README") == "true" {
		if err := os.WriteFile(path, []byte(readme[:start]+want+readme[end+len(DocsEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the tools section of %s", path)
		return
	}
	t.Errorf("README.md's tool section is stale; run: UPDATE_README=true go test ./internal/tools/")
}
