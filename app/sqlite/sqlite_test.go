package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/sqlite"
	"github.com/obsshort/shortener/app/storetest"
)

// MustOpen opens a store on a fresh file in a temp dir.
func MustOpen(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "nested", "links.db")
	}
	db, err := sqlite.Open(context.Background(), path, 4)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestMigrationsAppliedOnceAndRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	db := MustOpen(t, path)
	got, err := db.Migrations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "0001_links,0002_settings,0003_link_changes,0004_link_controls" {
		t.Fatalf("applied migrations %v", got)
	}
	// Reopening (a second process, a restart) applies nothing twice.
	db2 := MustOpen(t, path)
	got2, _ := db2.Migrations(context.Background())
	if len(got2) != len(got) {
		t.Fatalf("after reopen: %v", got2)
	}
	if err := db2.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

func TestSecretSharedAcrossHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	a, b := MustOpen(t, path), MustOpen(t, path)
	ka, err := a.Secret(context.Background(), "cookie_key", 32)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.Secret(context.Background(), "cookie_key", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(ka) != 32 || string(ka) != string(kb) {
		t.Fatalf("secrets differ between handles on one file")
	}
}

// Two handles on one file (as two processes would have) write at the same
// time: the busy timeout and immediate transactions must absorb contention.
func TestConcurrentWritersOnOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	handles := []*sqlite.DB{MustOpen(t, path), MustOpen(t, path)}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for h, db := range handles {
		for w := range 4 {
			wg.Go(func() {
				for i := range 100 {
					code := fmt.Sprintf("h%dw%di%d", h, w, i)
					if err := db.CreateLink(ctx, &app.Link{Code: code, URL: "https://x.example/", CreatedAt: time.Now()}); err != nil {
						errs <- fmt.Errorf("create %s: %w", code, err)
						return
					}
					if err := db.AddVisits(ctx, map[string]int64{code: 1}); err != nil {
						errs <- fmt.Errorf("visits %s: %w", code, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for h := range handles {
		for w := range 4 {
			l, err := handles[1-h].FindLink(ctx, fmt.Sprintf("h%dw%di99", h, w))
			if err != nil || l.Visits != 1 {
				t.Fatalf("link written by handle %d not visible to the other: %v", h, err)
			}
		}
	}
}

func TestOpenFailsClearly(t *testing.T) {
	_, err := sqlite.Open(context.Background(), "/proc/definitely/not/here.db", 1)
	if err == nil {
		t.Fatal("open in an impossible folder succeeded")
	}
	if !strings.Contains(err.Error(), "/proc/definitely/not/here.db") {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// Every delete, by this or another process on the file, moves the change
// counter that redirect caches poll; visit counts do not.
func TestChangeSeqCountsDeletesFromAnyProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, other := MustOpen(t, path), MustOpen(t, path)
	seq := func() int64 {
		t.Helper()
		n, err := db.ChangeSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := seq()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := db.CreateLink(ctx, &app.Link{Code: "chg", URL: "https://example.com/", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddVisits(ctx, map[string]int64{"chg": 3}); err != nil {
		t.Fatal(err)
	}
	if got := seq(); got != start {
		t.Fatalf("create and visits moved the counter: %d -> %d", start, got)
	}
	if err := other.DeleteLink(ctx, "chg", now); err != nil {
		t.Fatal(err)
	}
	if got := seq(); got != start+1 {
		t.Fatalf("delete by another handle: counter %d, want %d", got, start+1)
	}
}

// dataVersion reads PRAGMA data_version on its own connection to path: the
// number changes whenever another connection commits a write to the file.
func dataVersion(t *testing.T, conn *sql.Conn) int64 {
	t.Helper()
	var v int64
	if err := conn.QueryRowContext(context.Background(), `PRAGMA data_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReadyDoesNotWrite: readiness is a read. Many Ready calls commit
// nothing to the file, while one write probe does (which shows the counter
// sees this store's writes at all).
func TestReadyDoesNotWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	db := MustOpen(t, path)
	watcher, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	conn, err := watcher.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	before := dataVersion(t, conn)
	for range 20 {
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("ready: %v", err)
		}
	}
	if after := dataVersion(t, conn); after != before {
		t.Fatalf("20 readiness checks wrote to the database (data_version %d -> %d)", before, after)
	}
	if err := db.ProbeWrite(ctx); err != nil {
		t.Fatalf("write probe: %v", err)
	}
	if after := dataVersion(t, conn); after == before {
		t.Fatal("a write probe did not change data_version: this test cannot see writes")
	}
}

// TestProbeWriteFailsWhileReadsWork: when the file refuses writes, the
// write probe says so while readiness and lookups keep working. (A trigger
// refuses the probe's write here; the real full disk and read-only file are
// exercised in app/faulttest.)
func TestProbeWriteFailsWhileReadsWork(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	db := MustOpen(t, path)
	created := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := db.CreateLink(ctx, &app.Link{Code: "kept", URL: "https://example.com/", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	other := MustOpen(t, path)
	if err := other.ProbeWrite(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, op := range []string{"INSERT", "UPDATE"} {
		if _, err := admin.ExecContext(ctx, `CREATE TRIGGER refuse_`+op+` BEFORE `+op+` ON settings BEGIN SELECT RAISE(ABORT, 'writes refused'); END`); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ProbeWrite(ctx); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("write probe on a store that refuses writes: %v, want a 'not writable' error", err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("ready while writes are refused: %v, want ready", err)
	}
	if l, err := db.FindLink(ctx, "kept"); err != nil || l.URL != "https://example.com/" {
		t.Fatalf("lookup while writes are refused: %v %v", l, err)
	}
}

// TestStoreContract: the SQLite store passes the LinkStore contract that
// the in-memory fake passes too.
func TestStoreContract(t *testing.T) {
	open := func(t *testing.T) app.LinkStore { return MustOpen(t, "") }
	storetest.Run(t, open)
	t.Run("list targets", func(t *testing.T) { storetest.RunTargets(t, open) })
}
