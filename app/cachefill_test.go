package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/mock"
)

// sourceFunc is an app.TargetSource of a function.
type sourceFunc func(ctx context.Context, after string, limit int, now time.Time) ([]app.CodeTarget, error)

func (f sourceFunc) ListTargets(ctx context.Context, after string, limit int, now time.Time) ([]app.CodeTarget, error) {
	return f(ctx, after, limit, now)
}

// TestFillLoadsEveryLiveLink: Fill reads the store's live links page by
// page into the cache, up to its limit; deleted and expired ones stay out.
func TestFillLoadsEveryLiveLink(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	store := mock.NewMemStore()
	past := now.Add(-time.Hour)
	const links = 25_000 // three pages
	for i := range links {
		l := &app.Link{Code: fmt.Sprintf("c%05d", i), URL: fmt.Sprintf("https://example.com/%d", i), CreatedAt: past}
		if i%1000 == 7 {
			l.ExpiresAt = &past
		}
		if err := store.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.DeleteLink(ctx, "c00003", now); err != nil {
		t.Fatal(err)
	}
	live := links - 25 - 1
	c := app.NewGuardedCache(app.NewRedirectCache(100_000))
	n, err := c.Fill(ctx, store, 100_000, func() time.Time { return now })
	if err != nil || n != live {
		t.Fatalf("Fill = %d, %v; want %d live links", n, err, live)
	}
	for _, i := range []int{0, 12345, 24999} {
		code := fmt.Sprintf("c%05d", i)
		if tg, ok := c.Get(code); !ok || tg.URL != fmt.Sprintf("https://example.com/%d", i) {
			t.Errorf("Get(%s) = %+v, %v", code, tg, ok)
		}
	}
	for _, code := range []string{"c00003", "c00007", "c01007"} {
		if _, ok := c.Get(code); ok {
			t.Errorf("%s (deleted or expired) was loaded", code)
		}
	}
	// A limit stops the fill.
	c2 := app.NewGuardedCache(app.NewRedirectCache(100_000))
	if n, err := c2.Fill(ctx, store, 12_000, func() time.Time { return now }); err != nil || n != 12_000 {
		t.Fatalf("Fill with limit 12000 = %d, %v", n, err)
	}
}

// TestFillRereadsAcrossAPurge: a page read while the cache was purged (a
// change elsewhere) may predate the change; it is read again, never added.
func TestFillRereadsAcrossAPurge(t *testing.T) {
	c := app.NewGuardedCache(app.NewRedirectCache(1000))
	url := "https://example.com/old"
	reads := 0
	src := sourceFunc(func(_ context.Context, after string, limit int, _ time.Time) ([]app.CodeTarget, error) {
		reads++
		if after != "" {
			return nil, nil
		}
		page := []app.CodeTarget{{Code: "abc", Target: app.Target{URL: url}}}
		if reads == 1 {
			c.Purge() // the link changed while this page was read
			url = "https://example.com/new"
		}
		return page, nil
	})
	n, err := c.Fill(context.Background(), src, 10, time.Now)
	if err != nil || n != 1 {
		t.Fatalf("Fill = %d, %v", n, err)
	}
	if tg, _ := c.Get("abc"); tg.URL != "https://example.com/new" || reads != 3 {
		t.Fatalf("cached %q after %d reads; want the page read after the purge", tg.URL, reads)
	}

	// A failing store ends the fill with what it loaded.
	boom := errors.New("disk I/O error")
	fail := sourceFunc(func(context.Context, string, int, time.Time) ([]app.CodeTarget, error) { return nil, boom })
	if n, err := app.NewGuardedCache(app.NewRedirectCache(10)).Fill(context.Background(), fail, 10, time.Now); n != 0 || !errors.Is(err, boom) {
		t.Fatalf("Fill on a failing store = %d, %v", n, err)
	}
}
