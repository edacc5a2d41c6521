package faulttest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/obsshort/shortener/app/storetest"
	"github.com/obsshort/shortener/internal/pgtest"
	"github.com/obsshort/shortener/internal/testenv"
)

// buildRevision builds the shortener of a commit of this repository (from
// `git archive`, so the work tree is not touched) and returns the binary.
func buildRevision(t *testing.T, rev string) string {
	t.Helper()
	root := testenv.ModuleRoot(t)
	dir := t.TempDir()
	tarball := filepath.Join(dir, "previous.tar")
	if out, err := exec.Command("git", "-C", root, "archive", "--format=tar", "-o", tarball, rev).CombinedOutput(); err != nil {
		t.Fatalf("git archive %s (the previous release's commit must be in this clone's history): %v %s", rev, err, out)
	}
	if out, err := exec.Command("tar", "-x", "-f", tarball, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v %s", rev, err, out)
	}
	bin := filepath.Join(dir, "shortener-previous")
	build := exec.Command("go", "build", "-o", bin, "./app/cmd/shortener")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the previous release %s: %v\n%s", rev, err, out)
	}
	return bin
}

// TestPreviousReleaseBinaryBesideThisOne runs the real previous release
// (the commit recorded in the store's testdata/released.json, built from
// git) beside this build on one database, as during a canary: the
// previous release starts first and makes its schema, this build starts
// and applies its expand steps, both create, read, delete and count
// visits; then this build goes away (a rollback) and the previous release
// alone keeps working on the expanded schema.
func TestPreviousReleaseBinaryBesideThisOne(t *testing.T) {
	root := testenv.ModuleRoot(t)
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			rel, err := storetest.ReadReleased(filepath.Join(root, "app", store, "testdata", "released.json"))
			if err != nil {
				t.Fatal(err)
			}
			if rel.Revision == "" {
				// The store is new in this release: no earlier binary can
				// use it. The statement-level test in app/<store> covers it.
				t.Logf("no previous release on %s recorded (revision empty in released.json)", store)
				return
			}
			old := buildRevision(t, rel.Revision)
			var db string
			var env []string
			if store == "postgres" {
				_, db = pgtest.NewDatabase(t)
				env = pgtest.Env(t)
			} else {
				db = filepath.Join(t.TempDir(), "shortener.db")
			}
			previousBesideThis(t, old, db, env)
		})
	}
}

func previousBesideThis(t *testing.T, old, db string, env []string) {
	ctx := context.Background()
	client := newClient(10 * time.Second)
	flush := []string{"--visit-flush-interval", "100ms"}
	prev := startBin(t, old, db, env, flush...)
	mustCreate := func(in *instance, alias, url string) {
		t.Helper()
		if st, body, err := createLink(ctx, client, in.URL(), url, alias); err != nil || st != http.StatusCreated {
			t.Fatalf("create %s on %s: %d %q %v", alias, in.Addr, st, body.Error, err)
		}
	}
	mustRedirect := func(in *instance, code, url string) {
		t.Helper()
		if st, loc, _, err := get(ctx, client, in.URL()+"/"+code); err != nil || st != http.StatusFound || loc != url {
			t.Fatalf("%s on %s: %d %q %v, want 302 to %s", code, in.Addr, st, loc, err, url)
		}
	}
	mustCreate(prev, "prev-first", "https://example.com/prev-first")

	cur := start(t, db, env, flush...) // the canary: applies this build's expand steps
	for _, in := range []*instance{prev, cur} {
		if st, _, body, err := get(ctx, client, in.AdminURL()+"/readyz"); err != nil || st != http.StatusOK {
			t.Fatalf("readyz on %s beside the other release: %d %s %v", in.Addr, st, body, err)
		}
	}
	mustCreate(cur, "this-build", "https://example.com/this-build")
	mustCreate(prev, "prev-after", "https://example.com/prev-after")
	mustCreate(prev, "prev-same", "https://example.com/prev-first") // users shorten a URL twice
	mustRedirect(prev, "this-build", "https://example.com/this-build")
	mustRedirect(cur, "prev-after", "https://example.com/prev-after")
	if st := deleteLink(t, ctx, client, prev.URL(), "this-build"); st != http.StatusNoContent {
		t.Fatalf("the previous release deletes this build's link: %d", st)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, _, _, err := get(ctx, client, cur.URL()+"/this-build")
		if err == nil && st == http.StatusGone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("this build still answers %d %v for a link the previous release deleted", st, err)
		}
	}
	for range 3 {
		mustRedirect(prev, "prev-first", "https://example.com/prev-first")
		mustRedirect(cur, "prev-first", "https://example.com/prev-first")
	}

	// This build protects a link and disables another; the previous
	// release knows neither, and must answer 410 for both rather than
	// redirect (the deleted_at guard of expand step 0004).
	if st := adminDo(t, ctx, client, http.MethodPost, cur.URL()+"/api/v1/links", `{"url":"https://example.com/locked","alias":"locked-link","password":"pw-123456"}`); st != http.StatusCreated {
		t.Fatalf("create a protected link on this build: %d", st)
	}
	if st := adminDo(t, ctx, client, http.MethodPatch, cur.URL()+"/api/v1/links/prev-after", `{"disabled":true}`); st != http.StatusOK {
		t.Fatalf("disable prev-after on this build: %d", st)
	}
	eventually := func(in *instance, code string, want int) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			st, loc, _, err := get(ctx, client, in.URL()+"/"+code)
			if err == nil && st == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s on %s: %d %q %v, want %d", code, in.Addr, st, loc, err, want)
			}
		}
	}
	eventually(prev, "locked-link", http.StatusGone)
	eventually(prev, "prev-after", http.StatusGone)
	eventually(cur, "locked-link", http.StatusOK) // the password page
	if st := adminDo(t, ctx, client, http.MethodPatch, cur.URL()+"/api/v1/links/prev-after", `{"disabled":false}`); st != http.StatusOK {
		t.Fatalf("re-enable prev-after on this build: %d", st)
	}
	eventually(prev, "prev-after", http.StatusFound)
	// Rollback: this build goes; the previous release alone, restarted, on
	// the expanded schema.
	for _, in := range []*instance{cur, prev} {
		if err := in.terminate(20 * time.Second); err != nil {
			t.Fatalf("SIGTERM %s: %v", in.Addr, err)
		}
	}
	again := startBin(t, old, db, env, flush...)
	mustRedirect(again, "prev-after", "https://example.com/prev-after")
	mustCreate(again, "after-rollback", "https://example.com/after-rollback")
	_, _, body, err := get(ctx, client, again.URL()+"/api/v1/links/prev-first")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Visits int64 `json:"visits"`
	}
	if err := json.Unmarshal([]byte(body), &meta); err != nil || meta.Visits != 6 {
		t.Fatalf("visits of prev-first after both flushed: %s (%v), want 6 (3 through each release)", body, err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatal(err)
	}
}
