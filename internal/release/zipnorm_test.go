package main

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// writeZip writes files (name → content) in the given order, dated at and
// with an extra field, as a packer that stamps its own clock would.
func writeZip(t *testing.T, path string, names []string, at time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := zip.NewWriter(f)
	for _, n := range names {
		fh := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: at}
		fh.SetMode(0o755)
		dst, err := w.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(dst, "content of "+n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Two zips of the same files, packed at different times and in different
// orders, come out byte for byte the same, and still hold the same files
// with their permissions.
func TestNormalizeZip(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	writeZip(t, a, []string{"manifest.json", "server/run.sh", "icon.png"}, time.Date(2026, 11, 30, 5, 0, 1, 0, time.UTC))
	writeZip(t, b, []string{"icon.png", "server/run.sh", "manifest.json"}, time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC))
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if bytes.Equal(x, y) {
		t.Fatal("the two zips are already the same: the test proves nothing")
	}
	at := time.Date(2026, 11, 29, 12, 34, 56, 0, time.UTC)
	for _, p := range []string{a, b} {
		if err := NormalizeZip(p, at); err != nil {
			t.Fatal(err)
		}
	}
	x, _ = os.ReadFile(a)
	y, _ = os.ReadFile(b)
	if !bytes.Equal(x, y) {
		t.Fatalf("normalized zips differ (%d and %d bytes)", len(x), len(y))
	}
	r, err := zip.OpenReader(a)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var names []string
	for _, f := range r.File {
		names = append(names, f.Name)
		if !f.Modified.Equal(at) || f.Mode().Perm() != fs.FileMode(0o755) {
			t.Errorf("%s: dated %v, mode %v; want %v and 0755", f.Name, f.Modified, f.Mode(), at)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != "content of "+f.Name {
			t.Errorf("%s: content %q (%v)", f.Name, got, err)
		}
	}
	if want := []string{"icon.png", "manifest.json", "server/run.sh"}; !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
}
