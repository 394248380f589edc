package main

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NormalizeZip rewrites the zip at path so that the same files give the
// same bytes: entries in name order, every one dated mtime, with no extra
// fields (where a packer may put its own clock). The compressed data, the
// CRCs and the Unix permissions are copied as they are. mcpb pack stamps
// the time of packing into every entry, and lists files in the order the
// file system gave them.
func NormalizeZip(path string, mtime time.Time) error {
	r, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("读取 / read %s: %w", path, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".normalize-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	files := slices.Clone(r.File)
	slices.SortFunc(files, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	date, clock := msDOSTime(mtime)
	w := zip.NewWriter(tmp)
	for _, f := range files {
		fh := f.FileHeader
		fh.Modified, fh.ModifiedDate, fh.ModifiedTime = time.Time{}, date, clock
		fh.Extra = nil
		dst, err := w.CreateRaw(&fh)
		if err != nil {
			tmp.Close()
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		src, err := f.OpenRaw()
		if err == nil {
			_, err = io.Copy(dst, src)
		}
		if err != nil {
			tmp.Close()
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SourceTime is the time a reproducible artifact is dated: SOURCE_DATE_EPOCH
// when set (the reproducible-builds convention), else the committer time of
// root's HEAD, else 1980-01-01, the earliest a zip can hold.
func SourceTime(ctx context.Context, root string) time.Time {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct", "HEAD")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
}

// msDOSTime is t (UTC) as a zip entry's MS-DOS date and time: two-second
// resolution, years 1980 to 2107.
func msDOSTime(t time.Time) (date, clock uint16) {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	clock = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, clock
}
