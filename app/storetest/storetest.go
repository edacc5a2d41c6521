// Package storetest is the contract every app.LinkStore passes: the SQLite
// store (app/sqlite) and the in-memory fake (app/mock.MemStore) run the same
// suite, so a test that uses the fake sees the behaviour production has.
package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
)

// Run runs the whole contract against stores made by open, a fresh empty
// store per subtest: what every release's store does (RunCore) and the
// link controls (list, update, import, protected and disabled links,
// per-day visits).
func Run(t *testing.T, open func(t *testing.T) app.LinkStore) {
	RunCore(t, open)
	runCases(t, open, controlCases)
}

// RunCore runs the part of the contract that a previous release's store
// (its statements, in the compatibility test) passes too.
func RunCore(t *testing.T, open func(t *testing.T) app.LinkStore) {
	runCases(t, open, coreCases)
}

type contractCase struct {
	name string
	fn   func(t *testing.T, s app.LinkStore)
}

var coreCases = []contractCase{
	{"create and find", createAndFind},
	{"code taken", codeTaken},
	{"unknown code", unknownCode},
	{"delete twice", deleteTwice},
	{"expired", expired},
	{"visits", visits},
	{"ready", ready},
	{"cancelled context", cancelled},
	{"returned links are copies", copies},
}

func runCases(t *testing.T, open func(t *testing.T) app.LinkStore, cases []contractCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

var (
	// base has nanoseconds and a zone: stores keep milliseconds in UTC.
	base   = time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	baseMs = time.Date(2026, 5, 6, 5, 8, 9, 123000000, time.UTC)
)

func mustCreate(t *testing.T, s app.LinkStore, l *app.Link) {
	t.Helper()
	if err := s.CreateLink(context.Background(), l); err != nil {
		t.Fatalf("create %s: %v", l.Code, err)
	}
}

func mustFind(t *testing.T, s app.LinkStore, code string) *app.Link {
	t.Helper()
	l, err := s.FindLink(context.Background(), code)
	if err != nil {
		t.Fatalf("find %s: %v", code, err)
	}
	return l
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := app.ErrorCode(err); got != code {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b) && a.Location() == time.UTC && b.Location() == time.UTC
}

// A created link comes back as given, at millisecond precision in UTC,
// live and without visits whatever the caller's struct held.
func createAndFind(t *testing.T, s app.LinkStore) {
	exp := base.Add(48 * time.Hour)
	expMs := baseMs.Add(48 * time.Hour)
	deleted := base
	mustCreate(t, s, &app.Link{Code: "plain", URL: "https://example.com/", CreatedAt: base})
	mustCreate(t, s, &app.Link{Code: "expiring", URL: "https://example.com/e?q=1", CreatedAt: base, ExpiresAt: &exp, DeletedAt: &deleted, Visits: 7})
	for _, want := range []app.Link{
		{Code: "plain", URL: "https://example.com/", CreatedAt: baseMs},
		{Code: "expiring", URL: "https://example.com/e?q=1", CreatedAt: baseMs, ExpiresAt: &expMs},
	} {
		got := mustFind(t, s, want.Code)
		if got.Code != want.Code || got.URL != want.URL || !equalTime(&got.CreatedAt, &want.CreatedAt) ||
			!equalTime(got.ExpiresAt, want.ExpiresAt) || got.DeletedAt != nil || got.Visits != 0 {
			t.Errorf("find %s: got %+v, want %+v", want.Code, got, want)
		}
	}
}

// A code is taken whatever the state of its link: live, expired or deleted.
func codeTaken(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	past := base.Add(-time.Hour)
	mustCreate(t, s, &app.Link{Code: "live", URL: "https://a.example/", CreatedAt: base})
	mustCreate(t, s, &app.Link{Code: "old", URL: "https://b.example/", CreatedAt: base, ExpiresAt: &past})
	mustCreate(t, s, &app.Link{Code: "gone", URL: "https://c.example/", CreatedAt: base})
	if err := s.DeleteLink(ctx, "gone", base); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"live", "old", "gone"} {
		err := s.CreateLink(ctx, &app.Link{Code: code, URL: "https://other.example/", CreatedAt: base})
		wantCode(t, "create over "+code, err, app.ECONFLICT)
		if got := mustFind(t, s, code); got.URL == "https://other.example/" {
			t.Errorf("a refused create replaced %s", code)
		}
	}
}

func unknownCode(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	_, err := s.FindLink(ctx, "nothere")
	wantCode(t, "find unknown", err, app.ENOTFOUND)
	wantCode(t, "delete unknown", s.DeleteLink(ctx, "nothere", base), app.ENOTFOUND)
	if _, err := s.FindLink(ctx, "nothere"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("delete of an unknown code created it: %v", err)
	}
}

// Only a live link can be deleted: the second delete is "not found" and
// keeps the time of the first.
func deleteTwice(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	mustCreate(t, s, &app.Link{Code: "twice", URL: "https://example.com/", CreatedAt: base})
	first := base.Add(time.Hour)
	if err := s.DeleteLink(ctx, "twice", first); err != nil {
		t.Fatalf("first delete: %v", err)
	}
	got := mustFind(t, s, "twice")
	firstMs := baseMs.Add(time.Hour)
	if !equalTime(got.DeletedAt, &firstMs) || got.State(base) != app.LinkDeleted {
		t.Fatalf("after delete: deleted_at %v, state %v; want %v, deleted", got.DeletedAt, got.State(base), firstMs)
	}
	wantCode(t, "second delete", s.DeleteLink(ctx, "twice", first.Add(time.Hour)), app.ENOTFOUND)
	if got := mustFind(t, s, "twice"); !equalTime(got.DeletedAt, &firstMs) {
		t.Fatalf("second delete moved deleted_at to %v", got.DeletedAt)
	}
}

// An expired link is still stored and found (the service answers 410 for
// it), and can be deleted.
func expired(t *testing.T, s app.LinkStore) {
	past := base.Add(-time.Minute)
	mustCreate(t, s, &app.Link{Code: "expired", URL: "https://example.com/", CreatedAt: base.Add(-time.Hour), ExpiresAt: &past})
	got := mustFind(t, s, "expired")
	if got.State(base) != app.LinkExpired || got.State(base.Add(-2*time.Minute)) != app.LinkLive {
		t.Fatalf("expired link %+v: state now %v", got, got.State(base))
	}
	if err := s.DeleteLink(context.Background(), "expired", base); err != nil {
		t.Fatalf("delete an expired link: %v", err)
	}
	if got := mustFind(t, s, "expired"); got.State(base) != app.LinkDeleted {
		t.Fatalf("expired then deleted: state %v, want deleted", got.State(base))
	}
}

// Visits add up, also for deleted links; codes that do not exist are
// dropped without an error (a link may be gone before its visits flush).
func visits(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	for _, c := range []string{"aaa", "bbb", "ddd"} {
		mustCreate(t, s, &app.Link{Code: c, URL: "https://x.example/", CreatedAt: base})
	}
	if err := s.DeleteLink(ctx, "ddd", base); err != nil {
		t.Fatal(err)
	}
	if err := s.AddVisits(ctx, map[string]int64{"aaa": 3, "bbb": 1, "ddd": 2, "unknown": 5}); err != nil {
		t.Fatalf("add visits with an unknown code: %v", err)
	}
	if err := s.AddVisits(ctx, map[string]int64{"aaa": 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddVisits(ctx, map[string]int64{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	for code, want := range map[string]int64{"aaa": 5, "bbb": 1, "ddd": 2} {
		if got := mustFind(t, s, code).Visits; got != want {
			t.Errorf("%s: %d visits, want %d", code, got, want)
		}
	}
	if _, err := s.FindLink(ctx, "unknown"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("visits created a link: %v", err)
	}
}

func ready(t *testing.T, s app.LinkStore) {
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

// A call whose context has ended fails and changes nothing.
func cancelled(t *testing.T, s app.LinkStore) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.CreateLink(ctx, &app.Link{Code: "late", URL: "https://example.com/", CreatedAt: base})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.FindLink(context.Background(), "late"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("a cancelled create stored the link: %v", err)
	}
	if _, err := s.FindLink(ctx, "late"); err == nil {
		t.Fatal("find with a cancelled context succeeded")
	}
}

// Neither the caller's struct nor a returned one aliases what is stored.
func copies(t *testing.T, s app.LinkStore) {
	in := &app.Link{Code: "copy", URL: "https://example.com/", CreatedAt: base}
	mustCreate(t, s, in)
	in.URL = "https://changed.example/"
	out := mustFind(t, s, "copy")
	out.URL = "https://changed-too.example/"
	if got := mustFind(t, s, "copy"); got.URL != "https://example.com/" {
		t.Fatalf("stored URL changed to %q through a caller's struct", got.URL)
	}
}

// RunTargets is the contract of app.TargetSource (which releases before
// the compact redirect cache did not have, so it is apart from Run): the
// links a redirect cache is filled with are the live ones only (not
// deleted, not expired at the given time), in code order, a page at a
// time after a code, each with its target.
func RunTargets(t *testing.T, open func(t *testing.T) app.LinkStore) {
	s := open(t)
	src, ok := s.(app.TargetSource)
	if !ok {
		t.Fatalf("%T does not list targets (app.TargetSource)", s)
	}
	ctx := context.Background()
	later, past := base.Add(time.Hour), base.Add(-time.Hour)
	laterMs := baseMs.Add(time.Hour)
	for _, l := range []*app.Link{
		{Code: "c-live", URL: "https://c.example/", CreatedAt: base},
		{Code: "a-expiring", URL: "https://a.example/?q=1", CreatedAt: base, ExpiresAt: &later},
		{Code: "b-expired", URL: "https://b.example/", CreatedAt: base, ExpiresAt: &past},
		{Code: "d-deleted", URL: "https://d.example/", CreatedAt: base},
		{Code: "e-live", URL: "https://e.example/", CreatedAt: base},
		// What the cache needs of access controls: a password is a flag
		// (never the hash), a disabled link is not listed, and undoing
		// either leaves a plain link.
		{Code: "f-protected", URL: "https://f.example/", CreatedAt: base, ExpiresAt: &later, PasswordHash: targetsHash},
		{Code: "g-disabled", URL: "https://g.example/", CreatedAt: base},
		{Code: "h-reenabled", URL: "https://h.example/", CreatedAt: base},
		{Code: "i-unprotected", URL: "https://i.example/", CreatedAt: base, PasswordHash: targetsHash},
		{Code: "j-deleted-protected", URL: "https://j.example/", CreatedAt: base, PasswordHash: targetsHash},
		{Code: "k-disabled-protected", URL: "https://k.example/", CreatedAt: base, PasswordHash: targetsHash},
	} {
		mustCreate(t, s, l)
	}
	for _, code := range []string{"d-deleted", "j-deleted-protected"} {
		if err := s.DeleteLink(ctx, code, base); err != nil {
			t.Fatal(err)
		}
	}
	for code, u := range map[string]app.LinkUpdate{
		"g-disabled":           {DisabledAt: &base},
		"h-reenabled":          {DisabledAt: &base},
		"k-disabled-protected": {DisabledAt: &base},
		"i-unprotected":        {ClearPassword: true},
	} {
		if _, err := s.UpdateLink(ctx, code, u); err != nil {
			t.Fatalf("update %s: %v", code, err)
		}
	}
	if _, err := s.UpdateLink(ctx, "h-reenabled", app.LinkUpdate{Enable: true}); err != nil {
		t.Fatalf("enable h-reenabled: %v", err)
	}
	want := []app.CodeTarget{
		{Code: "a-expiring", Target: app.Target{URL: "https://a.example/?q=1", Flags: app.TargetExpires, ExpiresAt: laterMs.UnixMilli()}},
		{Code: "c-live", Target: app.Target{URL: "https://c.example/"}},
		{Code: "e-live", Target: app.Target{URL: "https://e.example/"}},
		{Code: "f-protected", Target: app.Target{URL: "https://f.example/", Flags: app.TargetProtected | app.TargetExpires, ExpiresAt: laterMs.UnixMilli()}},
		{Code: "h-reenabled", Target: app.Target{URL: "https://h.example/"}},
		{Code: "i-unprotected", Target: app.Target{URL: "https://i.example/"}},
	}
	var got []app.CodeTarget
	for after := ""; ; {
		page, err := src.ListTargets(ctx, after, 2, base)
		if err != nil {
			t.Fatalf("list after %q: %v", after, err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d links, asked for 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Code
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %+v, want %+v", got, want)
	}
	// At a later time the expiring link is no longer live.
	page, err := src.ListTargets(ctx, "", 10, later)
	if err != nil || len(page) != 4 || page[0].Code != "c-live" || page[2].Code != "h-reenabled" {
		t.Errorf("list after the expiry: %+v, %v; want c-live, e-live, h-reenabled and i-unprotected", page, err)
	}
}

// targetsHash stands for a password hash in RunTargets: the stores keep
// it as given, and no listed target may carry it.
const targetsHash = "$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
