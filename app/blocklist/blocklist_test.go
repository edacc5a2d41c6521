package blocklist_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app/blocklist"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func blocked(f *blocklist.File, host string) bool {
	_, b := f.Blocked(host)
	return b
}

// TestFileReload walks the ways a blocklist file changes: edited in place,
// replaced by rename, broken, deleted and recreated.
func TestFileReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "blocklist.txt")
	writeFile(t, path, "one.example\n")
	f, err := blocklist.Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !blocked(f, "one.example") || f.Len() != 1 {
		t.Fatal("initial list not loaded")
	}
	if changed, err := f.Reload(); changed || err != nil {
		t.Fatalf("reload of an unchanged file: changed=%v err=%v", changed, err)
	}

	writeFile(t, path, "one.example\ntwo.example\n") // in place
	if changed, err := f.Reload(); !changed || err != nil || !blocked(f, "two.example") {
		t.Fatalf("in-place edit: changed=%v err=%v two blocked=%v", changed, err, blocked(f, "two.example"))
	}

	tmp := filepath.Join(dir, "new.txt")
	writeFile(t, tmp, "three.example\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if changed, err := f.Reload(); !changed || err != nil || !blocked(f, "three.example") || blocked(f, "one.example") {
		t.Fatalf("replace by rename: changed=%v err=%v", changed, err)
	}

	writeFile(t, path, "three.example\nhttps://broken.example/\n")
	if _, err := f.Reload(); err == nil || !strings.Contains(err.Error(), "keeping the 1 entries") {
		t.Fatalf("broken file: err=%v, want one saying the old list stays", err)
	}
	if !blocked(f, "three.example") {
		t.Fatal("a broken file dropped the list in force")
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Reload(); err == nil {
		t.Fatal("deleted file: no error")
	}
	if _, err := f.Reload(); err != nil {
		t.Fatalf("deleted file reported twice: %v", err)
	}
	if !blocked(f, "three.example") {
		t.Fatal("a deleted file dropped the list in force")
	}

	writeFile(t, path, "four.example\n")
	if changed, err := f.Reload(); !changed || err != nil || !blocked(f, "four.example") {
		t.Fatalf("recreated file: changed=%v err=%v", changed, err)
	}

	if _, err := blocklist.Open(filepath.Join(dir, "missing.txt"), nil); err == nil {
		t.Fatal("Open of a missing file succeeded")
	}
}

// TestFileRunPicksUpChanges: the polling loop applies an edit on its own.
func TestFileRunPicksUpChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocklist.txt")
	writeFile(t, path, "# empty for now\n")
	f, err := blocklist.Open(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	writeFile(t, path, "late.example\n")
	deadline := time.Now().Add(5 * time.Second)
	for !blocked(f, "www.late.example") {
		if time.Now().After(deadline) {
			t.Fatal("edit not picked up within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
