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

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/blocklist"
	"github.com/obsshort/shortener/app/mock"
)

func TestParseBlocklist(t *testing.T) {
	list, err := app.ParseBlocklist(strings.NewReader(`
# phishing seen on 2026-11-02
evil.example
*.wildcard.example     # same as wildcard.example
.dot.example
MiXeD.Example.
аррӏе.com              # Cyrillic look-alike, stored as punycode
203.0.113.7
2001:db8::1
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host    string
		blocked bool
	}{
		{"evil.example", true},
		{"a.b.evil.example", true},
		{"EVIL.example.", true},
		{"notevil.example", false},
		{"evil.example.com", false},
		{"example", false},
		{"x.wildcard.example", true},
		{"wildcard.example", true},
		{"dot.example", true},
		{"mixed.example", true},
		{"xn--80ak6aa92e.com", true},
		{"login.xn--80ak6aa92e.com", true},
		{"apple.com", false},
		{"203.0.113.7", true},
		{"203.0.113.8", false},
		{"[2001:db8::1]", true},
		{"2001:db8:0:0::1", true},
	}
	for _, tt := range tests {
		if _, got := list.Blocked(tt.host); got != tt.blocked {
			t.Errorf("Blocked(%q) = %v, want %v", tt.host, got, tt.blocked)
		}
	}
	for _, bad := range []string{"https://evil.example/path", "evil.example:8080", "user@evil.example", "exa mple.com", "a..b"} {
		if _, err := app.ParseBlocklist(strings.NewReader("ok.example\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ParseBlocklist(%q) error %v, want one naming line 2", bad, err)
		}
	}
}

// TestServiceRefusesBlockedHosts: Service.Create consults the policy after
// normalising the URL, so look-alike and case tricks do not get around it.
func TestServiceRefusesBlockedHosts(t *testing.T) {
	list, err := app.ParseBlocklist(strings.NewReader("evil.example\nаррӏе.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	store := &mock.LinkStore{CreateLinkFn: func(context.Context, *app.Link) error { created++; return nil }}
	svc := &app.Service{Store: store, Hosts: list}
	for _, u := range []string{"https://EVIL.example./x", "https://login.evil.example/", "https://аррӏе.com/", "https://xn--80ak6aa92e.com/", "https://evil.example:8443/"} {
		_, err := svc.Create(context.Background(), app.CreateRequest{URL: u})
		if app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), "is blocked on this shortener") {
			t.Errorf("Create(%q): %v, want a blocked-host refusal", u, err)
		}
	}
	if created != 0 {
		t.Fatalf("%d blocked links reached the store", created)
	}
	if _, err := svc.Create(context.Background(), app.CreateRequest{URL: "https://good.example/"}); err != nil {
		t.Fatalf("unblocked host refused: %v", err)
	}
}

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
