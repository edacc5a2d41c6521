package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/app/sqlite"
)

// An owner's switch (disable, enable, new target, new password, no
// password) reaches another process's redirect cache as a delete does:
// process B, with the compact cache filled from the store and following
// the store's change counter, never redirects a disabled link or a
// protected one without its password, whether it answers from its cache
// or from the store.
func TestAccessControlsReachOtherProcessesCaches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "links.db")
	open := func() *sqlite.DB {
		db, err := sqlite.Open(ctx, path, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	now := t0
	owner := newService(t, open(), &now)
	if _, err := owner.Create(ctx, app.CreateRequest{URL: "https://plain.example/", Alias: "plain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Create(ctx, app.CreateRequest{URL: "https://locked.example/", Alias: "locked", Password: "open sesame"}); err != nil {
		t.Fatal(err)
	}

	dbB := open()
	cache := app.NewGuardedCache(app.NewRedirectCache(100))
	obs := newObserver()
	replica := newService(t, dbB, &now)
	replica.Cache, replica.Observer = cache, obs
	// As the command does: the watch takes its first reading of the
	// change counter before the fill, so that a change after a read of
	// the fill moves the counter past that reading. A poll that fails or
	// runs late (a loaded machine, -race) empties the cache, as it should:
	// that only sends B to the store once more.
	var once sync.Once
	polled := make(chan struct{})
	go cache.Watch(ctx, changeFunc(func(ctx context.Context) (int64, error) {
		seq, err := dbB.ChangeSeq(ctx)
		if err == nil {
			once.Do(func() { close(polled) })
		}
		return seq, err
	}), 20*time.Millisecond, nil)
	<-polled
	if n, err := cache.Fill(ctx, dbB, 100, func() time.Time { return now }); err != nil || n != 2 {
		t.Fatalf("fill: %d links, %v; want both", n, err)
	}

	// answer is what B says about code: the URL it redirects to, or the
	// error code it refuses with.
	answer := func(code string) string {
		got, err := replica.Resolve(ctx, code)
		if err != nil {
			return app.ErrorCode(err)
		}
		return got.URL
	}
	hits := func() int {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return obs.hits
	}
	// expect waits until B answers want, then asks again until an answer
	// comes from B's cache (a purge by a late poll may send one to the
	// store); every answer from then on must be want.
	expect := func(step, code, want string) {
		t.Helper()
		waitFor(t, step+": "+code+" answers "+want, func() bool { return answer(code) == want })
		waitFor(t, step+": "+code+" answered from the cache", func() bool {
			before := hits()
			if got := answer(code); got != want {
				t.Fatalf("%s: %s answered %q, then %q", step, code, want, got)
			}
			return hits() == before+1
		})
	}
	update := func(code string, req app.UpdateRequest) {
		t.Helper()
		if _, err := owner.Update(ctx, code, req); err != nil {
			t.Fatalf("update %s: %v", code, err)
		}
	}
	yes, no := true, false
	newURL, password := "https://moved.example/", "swordfish"

	expect("filled", "plain", "https://plain.example/")
	expect("filled", "locked", app.EPROTECTED)
	if _, err := replica.Unlock(ctx, "locked", "open says me"); app.ErrorCode(err) != app.EFORBIDDEN {
		t.Fatalf("wrong password from the cache: %v, want EFORBIDDEN", err)
	}
	if got, err := replica.Unlock(ctx, "locked", "open sesame"); err != nil || got.URL != "https://locked.example/" {
		t.Fatalf("right password: %+v %v", got, err)
	}

	update("plain", app.UpdateRequest{Disabled: &yes})
	expect("disabled", "plain", app.EGONE)
	if _, err := replica.Resolve(ctx, "plain"); !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("a disabled link answers %v", err)
	}
	if _, err := replica.Unlock(ctx, "plain", "anything"); app.ErrorCode(err) != app.EGONE {
		t.Fatalf("unlock a disabled link: %v, want EGONE", err)
	}
	update("plain", app.UpdateRequest{Disabled: &no})
	expect("enabled", "plain", "https://plain.example/")
	update("plain", app.UpdateRequest{URL: &newURL})
	expect("new target", "plain", newURL)
	update("plain", app.UpdateRequest{Password: &password})
	expect("new password", "plain", app.EPROTECTED)
	if _, err := replica.Unlock(ctx, "plain", "open sesame"); app.ErrorCode(err) != app.EFORBIDDEN {
		t.Fatalf("another link's password: %v, want EFORBIDDEN", err)
	}
	if got, err := replica.Unlock(ctx, "plain", password); err != nil || got.URL != newURL {
		t.Fatalf("the new password: %+v %v", got, err)
	}
	update("locked", app.UpdateRequest{Password: &password})
	expect("password changed", "locked", app.EPROTECTED)
	if _, err := replica.Unlock(ctx, "locked", "open sesame"); app.ErrorCode(err) != app.EFORBIDDEN {
		t.Fatalf("the old password after a change: %v, want EFORBIDDEN", err)
	}
	update("locked", app.UpdateRequest{ClearPassword: true})
	expect("password removed", "locked", "https://locked.example/")
	update("locked", app.UpdateRequest{Disabled: &yes})
	expect("disabled", "locked", app.EGONE)
}

// With the access controls in the Target, a cached plain link still
// resolves without allocating (the visit counted, the URL pointing into
// the cache).
func TestResolveCachedPlainLinkDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	store := mock.NewMemStore()
	if err := store.CreateLink(ctx, &app.Link{Code: "plain12", URL: "https://plain.example/", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	visits := app.NewVisitCounter(nil, nil, nil)
	svc := &app.Service{Store: store, Cache: app.NewGuardedCache(app.NewRedirectCache(100)), Visits: visits, Now: func() time.Time { return t0 }}
	if _, err := svc.Resolve(ctx, "plain12"); err != nil { // the miss that caches it
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if got, err := svc.Resolve(ctx, "plain12"); err != nil || got.URL != "https://plain.example/" {
			t.Fatalf("resolve: %+v %v", got, err)
		}
	}); n != 0 {
		t.Errorf("a cached redirect allocates %v times", n)
	}
	if visits.Pending("plain12") != 1002 {
		t.Errorf("%d visits counted, want 1002", visits.Pending("plain12"))
	}
}
