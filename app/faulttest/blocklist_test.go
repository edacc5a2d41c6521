package faulttest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBlocklistFileInTheBinary checks the wiring of --blocklist-file in the
// real program: a listed host is refused with 422, and a host added to the
// file while the service runs is refused a few seconds later, no restart.
func TestBlocklistFileInTheBinary(t *testing.T) {
	list := filepath.Join(t.TempDir(), "blocked-hosts.txt")
	if err := os.WriteFile(list, []byte("# phishing\nevil.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := start(t, dbPath(t), []string{"SHORTENER_BLOCKLIST_FILE=" + list})
	client := newClient(5 * time.Second)
	ctx := context.Background()
	refused := func(target string) bool {
		st, body, err := createLink(ctx, client, in.URL(), target, "")
		if err != nil {
			t.Fatalf("create %s: %v", target, err)
		}
		switch {
		case st == http.StatusUnprocessableEntity && strings.Contains(body.Error, "is blocked on this shortener"):
			return true
		case st == http.StatusCreated:
			return false
		}
		t.Fatalf("create %s: %d %q", target, st, body.Error)
		return false
	}
	if !refused("https://login.evil.example/") {
		t.Fatal("a listed host was accepted")
	}
	if refused("https://later.example/") {
		t.Fatal("an unlisted host was refused")
	}
	// Replace the file the way editors do: write a new one, rename it over.
	tmp := list + ".new"
	if err := os.WriteFile(tmp, []byte("evil.example\nlater.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, list); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !refused("https://www.later.example/") {
		if time.Now().After(deadline) {
			t.Fatal("a host added to the blocklist was still accepted 10 s later")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
