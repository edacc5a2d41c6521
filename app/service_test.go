package app_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
	"github.com/obsshort/shortener/app/sqlite"
)

// storeKinds are the stores the service tests run against: the in-memory
// fake and SQLite on a temporary file, which pass the same contract
// (app/storetest).
var storeKinds = []struct {
	name string
	open func(t *testing.T) app.LinkStore
}{
	{"fake", func(*testing.T) app.LinkStore { return mock.NewMemStore() }},
	{"sqlite", func(t *testing.T) app.LinkStore {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "links.db"), 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}},
}

type recordingObserver struct {
	mu        sync.Mutex
	created   map[string]int
	redirects map[string]int
	hits      int
	misses    int
}

func newObserver() *recordingObserver {
	return &recordingObserver{created: map[string]int{}, redirects: map[string]int{}}
}

func (o *recordingObserver) LinkCreated(r string) { o.mu.Lock(); o.created[r]++; o.mu.Unlock() }
func (o *recordingObserver) Redirect(r string)    { o.mu.Lock(); o.redirects[r]++; o.mu.Unlock() }
func (o *recordingObserver) CacheLookup(hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if hit {
		o.hits++
	} else {
		o.misses++
	}
}

type mapCache struct{ m map[string]app.Target }

func (c *mapCache) Get(k string) (app.Target, bool) { t, ok := c.m[k]; return t, ok }
func (c *mapCache) Add(k string, t app.Target) bool { c.m[k] = t; return false }
func (c *mapCache) Remove(k string) bool {
	_, ok := c.m[k]
	delete(c.m, k)
	return ok
}

func TestServiceCreate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	past := now.Add(-time.Hour)
	future := now.Add(time.Hour)
	tests := []struct {
		name       string
		req        app.CreateRequest
		wantCode   string // error code
		wantResult string
	}{
		{"random code", app.CreateRequest{URL: "https://example.com"}, "", app.CreateResultCreated},
		{"alias", app.CreateRequest{URL: "https://example.com", Alias: "taken"}, "", app.CreateResultCreated},
		{"alias taken", app.CreateRequest{URL: "https://example.com", Alias: "taken"}, app.ECONFLICT, app.CreateResultConflict},
		{"bad url", app.CreateRequest{URL: "javascript:1"}, app.EINVALID, app.CreateResultInvalid},
		{"bad alias", app.CreateRequest{URL: "https://example.com", Alias: "a b"}, app.EINVALID, app.CreateResultInvalid},
		{"expiry in past", app.CreateRequest{URL: "https://example.com", ExpiresAt: &past}, app.EINVALID, app.CreateResultInvalid},
		{"expiry in future", app.CreateRequest{URL: "https://example.com", ExpiresAt: &future}, "", app.CreateResultCreated},
	}
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			store := kind.open(t)
			obs := newObserver()
			svc := &app.Service{Store: store, Observer: obs, Now: func() time.Time { return now }}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := obs.created[tt.wantResult]
					l, err := svc.Create(ctx, tt.req)
					if got := app.ErrorCode(err); got != tt.wantCode {
						t.Fatalf("error code %q (%v), want %q", got, err, tt.wantCode)
					}
					if obs.created[tt.wantResult] != before+1 {
						t.Errorf("result %q not observed", tt.wantResult)
					}
					if err != nil {
						return
					}
					if tt.req.Alias != "" && l.Code != tt.req.Alias {
						t.Errorf("code %q, want alias %q", l.Code, tt.req.Alias)
					}
					if tt.req.Alias == "" && len(l.Code) != app.CodeLength {
						t.Errorf("generated code %q has wrong length", l.Code)
					}
					if !l.CreatedAt.Equal(now) {
						t.Errorf("created_at %v, want %v", l.CreatedAt, now)
					}
					stored, err := store.FindLink(ctx, l.Code)
					if err != nil || stored.URL != l.URL || !stored.CreatedAt.Equal(now) {
						t.Errorf("stored link %+v (%v), want %+v", stored, err, l)
					}
				})
			}
		})
	}
}

func TestServiceCreateRetriesCollisions(t *testing.T) {
	calls := 0
	store := &mock.LinkStore{CreateLinkFn: func(context.Context, *app.Link) error {
		calls++
		if calls < 3 {
			return app.Errorf(app.ECONFLICT, "taken")
		}
		return nil
	}}
	svc := &app.Service{Store: store}
	if _, err := svc.Create(context.Background(), app.CreateRequest{URL: "https://example.com"}); err != nil {
		t.Fatalf("create after two collisions: %v", err)
	}
	if calls != 3 {
		t.Fatalf("store called %d times, want 3", calls)
	}

	store.CreateLinkFn = func(context.Context, *app.Link) error { return app.Errorf(app.ECONFLICT, "taken") }
	_, err := svc.Create(context.Background(), app.CreateRequest{URL: "https://example.com"})
	if err == nil || app.ErrorCode(err) != app.EINTERNAL {
		t.Fatalf("endless collisions: got %v, want an internal error", err)
	}
}

func TestServiceStoreErrorsStayInternal(t *testing.T) {
	store := &mock.LinkStore{
		CreateLinkFn: func(context.Context, *app.Link) error { return errors.New("SQL logic error: near \"x\"") },
		FindLinkFn:   func(context.Context, string) (*app.Link, error) { return nil, errors.New("disk I/O error") },
	}
	svc := &app.Service{Store: store}
	_, err := svc.Create(context.Background(), app.CreateRequest{URL: "https://example.com"})
	if app.ErrorCode(err) != app.EINTERNAL {
		t.Fatalf("code %q, want internal", app.ErrorCode(err))
	}
	if msg := app.ErrorMessage(err); msg == "" || containsAny(msg, "SQL", "near") {
		t.Fatalf("user message leaks detail: %q", msg)
	}
	if _, err := svc.Resolve(context.Background(), "abcdefg"); app.ErrorCode(err) != app.EINTERNAL {
		t.Fatalf("resolve store failure: code %q, want internal", app.ErrorCode(err))
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}

func TestServiceResolve(t *testing.T) {
	caches := []struct {
		name string
		new  func() app.Cache
	}{
		{"map", func() app.Cache { return &mapCache{m: map[string]app.Target{}} }},
		{"redirect cache", func() app.Cache { return app.NewGuardedCache(app.NewRedirectCache(100)) }},
	}
	for _, kind := range storeKinds {
		for _, cache := range caches {
			t.Run(kind.name+"/"+cache.name, func(t *testing.T) { testServiceResolve(t, kind.open(t), cache.new()) })
		}
	}
}

func testServiceResolve(t *testing.T, store app.LinkStore, cache app.Cache) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exp := now.Add(-time.Minute)
	urls := map[string]string{"live123": "https://a.example/", "expired": "https://b.example/", "deleted": "https://c.example/"}
	for _, l := range []*app.Link{
		{Code: "live123", URL: urls["live123"], CreatedAt: now.Add(-time.Hour)},
		{Code: "expired", URL: urls["expired"], CreatedAt: now.Add(-time.Hour), ExpiresAt: &exp},
		{Code: "deleted", URL: urls["deleted"], CreatedAt: now.Add(-time.Hour)},
	} {
		if err := store.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.DeleteLink(ctx, "deleted", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	stored := func(code string) int64 {
		t.Helper()
		l, err := store.FindLink(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		return l.Visits
	}
	obs := newObserver()
	visits := app.NewVisitCounter(store, nil, nil)
	svc := &app.Service{Store: store, Observer: obs, Cache: cache, Visits: visits, Now: func() time.Time { return now }}

	tests := []struct {
		code, wantErr, wantResult string
	}{
		{"live123", "", app.RedirectFound},
		{"live123", "", app.RedirectFound},
		{"expired", app.EGONE, app.RedirectExpired},
		{"deleted", app.EGONE, app.RedirectDeleted},
		{"missing", app.ENOTFOUND, app.RedirectNotFound},
		{"bad/code!", app.ENOTFOUND, app.RedirectNotFound},
	}
	for _, tt := range tests {
		l, err := svc.Resolve(ctx, tt.code)
		if app.ErrorCode(err) != tt.wantErr {
			t.Fatalf("Resolve(%q) err %v, want code %q", tt.code, err, tt.wantErr)
		}
		if err == nil && l.URL != urls[tt.code] {
			t.Fatalf("Resolve(%q) url %q", tt.code, l.URL)
		}
	}
	if obs.redirects[app.RedirectFound] != 2 || obs.redirects[app.RedirectExpired] != 1 ||
		obs.redirects[app.RedirectDeleted] != 1 || obs.redirects[app.RedirectNotFound] != 2 {
		t.Errorf("redirect results %v", obs.redirects)
	}
	if obs.hits != 1 {
		t.Errorf("cache hits %d, want 1 (second lookup of live123)", obs.hits)
	}
	// Visits are counted in memory and reach the store only on flush.
	if stored("live123") != 0 {
		t.Fatalf("visit written on the redirect path")
	}
	if got, _ := svc.Get(ctx, "live123"); got.Visits != 2 {
		t.Fatalf("Get visits %d, want 2 pending", got.Visits)
	}
	if err := visits.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if stored("live123") != 2 || visits.Pending("live123") != 0 {
		t.Fatalf("after flush: stored %d, pending %d", stored("live123"), visits.Pending("live123"))
	}
	// Delete drops the cache entry at once in this process.
	if err := svc.Delete(ctx, "live123"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resolve(ctx, "live123"); app.ErrorCode(err) != app.EGONE {
		t.Fatalf("after delete: %v, want gone", err)
	}
	// A deleted link cannot be deleted again, an unknown one not at all.
	for _, code := range []string{"live123", "deleted", "missing"} {
		if err := svc.Delete(ctx, code); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("Delete(%q): %v, want not found", code, err)
		}
	}
}

func TestVisitFlushKeepsCountsOnFailure(t *testing.T) {
	fail := true
	var stored map[string]int64
	store := &mock.LinkStore{AddVisitsFn: func(_ context.Context, c map[string]int64) error {
		if fail {
			return app.Errorf(app.EUNAVAILABLE, "read-only")
		}
		stored = c
		return nil
	}}
	var flushed []int
	v := app.NewVisitCounter(store, nil, func(n int, err error) { flushed = append(flushed, n) })
	v.Add("abc")
	v.Add("abc")
	if err := v.Flush(context.Background()); err == nil {
		t.Fatal("flush should fail")
	}
	if v.Pending("abc") != 2 {
		t.Fatalf("pending %d after failed flush, want 2", v.Pending("abc"))
	}
	fail = false
	v.Add("abc")
	if err := v.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stored["abc"] != 3 {
		t.Fatalf("stored %d, want 3", stored["abc"])
	}
	if len(flushed) != 2 || flushed[1] != 3 {
		t.Fatalf("onFlush calls %v", flushed)
	}
}

// A large flush is one store call; when it fails, every count is kept for
// the next flush, and nothing is counted twice.
func TestVisitFlushLargeFailsWhole(t *testing.T) {
	calls, stored := 0, map[string]int64{}
	store := &mock.LinkStore{AddVisitsFn: func(_ context.Context, c map[string]int64) error {
		calls++
		if calls == 1 {
			return app.Errorf(app.EUNAVAILABLE, "disk full")
		}
		for k, n := range c {
			stored[k] += n
		}
		return nil
	}}
	v := app.NewVisitCounter(store, nil, nil)
	for i := range 1000 {
		code := fmt.Sprintf("c%04d", i)
		v.Add(code)
		v.Add(code)
	}
	if err := v.Flush(context.Background()); err == nil {
		t.Fatal("failed flush returned nil")
	}
	if len(stored) != 0 || v.Pending("c0999") != 2 {
		t.Fatalf("after a failed flush: %d links stored, c0999 pending %d; want 0 and 2", len(stored), v.Pending("c0999"))
	}
	if err := v.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1000 || calls != 2 {
		t.Fatalf("%d links stored in %d calls, want 1000 in 2", len(stored), calls)
	}
	for k, n := range stored {
		if n != 2 {
			t.Fatalf("%s stored %d visits, want 2", k, n)
		}
	}
}
