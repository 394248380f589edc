package tools

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Snapshots of every tool's full definition live in __toolsnaps__. A stale
// snapshot fails; UPDATE_TOOLSNAPS=true rewrites it on purpose. A missing one
// is written locally but fails under CI=true.
func TestToolSnapshots(t *testing.T) {
	for _, st := range All(Deps{}) {
		t.Run(st.Tool.Name, func(t *testing.T) {
			got := normalizeJSON(t, st.Tool)
			path := filepath.Join("__toolsnaps__", st.Tool.Name+".snap")
			want, err := os.ReadFile(path)
			switch {
			case os.Getenv("UPDATE_TOOLSNAPS") == "true":
				writeSnap(t, path, got)
				return
			case os.IsNotExist(err):
				if os.Getenv("CI") != "" {
					t.Fatalf("snapshot %s is missing; run UPDATE_TOOLSNAPS=true go test ./internal/tools/ and commit it", path)
				}
				writeSnap(t, path, got)
				t.Logf("wrote missing snapshot %s", path)
				return
			case err != nil:
				t.Fatal(err)
			}
			if !sameJSON(t, got, want) {
				t.Errorf("tool %s differs from %s.\nIf the change is intended, run: UPDATE_TOOLSNAPS=true go test ./internal/tools/\ngot:\n%s", st.Tool.Name, path, got)
			}
		})
	}
}

func writeSnap(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// normalizeJSON marshals v with sorted keys and indentation.
func normalizeJSON(t *testing.T, v any) []byte {
	t.Helper()
	out, err := json.MarshalIndent(asJSONValue(t, v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, b)
	}
	return reflect.DeepEqual(x, y)
}
