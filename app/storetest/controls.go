package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
)

// controlCases are the link controls of expand step 0004: every store of
// this release passes them; a previous release's statements do not have
// them.
var controlCases = []contractCase{
	{"scan newest first with a cursor", scanOrder},
	{"scan created range and early stop", scanRange},
	{"update target, expiry and switch", updateLink},
	{"update unknown or deleted", updateRefused},
	{"protected link", protectedLink},
	{"disabled and protected links can be deleted", deleteGuarded},
	{"import keeps every field", importFields},
	{"import reports taken codes", importTaken},
	{"visits per day", dailyVisits},
	{"prune daily visits", pruneVisits},
	{"scan with a cancelled context", scanCancelled},
}

// clocked is a store whose per-day counts follow a clock the test sets.
type clocked interface {
	SetClock(now func() time.Time)
}

func scanAll(t *testing.T, s app.LinkStore, q app.ScanQuery) []*app.Link {
	t.Helper()
	var out []*app.Link
	if err := s.ScanLinks(context.Background(), q, func(l *app.Link) bool { out = append(out, l); return true }); err != nil {
		t.Fatalf("scan %+v: %v", q, err)
	}
	return out
}

func codes(ls []*app.Link) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Code
	}
	return out
}

func sameCodes(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Newest first; links created in the same millisecond by code,
// descending; a cursor resumes exactly after the last link seen, so
// paging visits each link once.
func scanOrder(t *testing.T, s app.LinkStore) {
	for i, c := range []string{"aaa", "bbb", "ccc", "ddd", "eee"} {
		at := base.Add(time.Duration(i/2) * time.Second) // aaa,bbb | ccc,ddd | eee
		mustCreate(t, s, &app.Link{Code: c, URL: "https://example.com/" + c, CreatedAt: at})
	}
	all := scanAll(t, s, app.ScanQuery{Limit: 100})
	if got := codes(all); !sameCodes(got, "eee", "ddd", "ccc", "bbb", "aaa") {
		t.Fatalf("order %v, want eee ddd ccc bbb aaa", got)
	}
	var seen []string
	var after *app.Cursor
	for range 10 {
		page := scanAll(t, s, app.ScanQuery{After: after, Limit: 2})
		if len(page) == 0 {
			break
		}
		seen = append(seen, codes(page)...)
		last := page[len(page)-1]
		after = &app.Cursor{CreatedAt: last.CreatedAt, Code: last.Code}
	}
	if !sameCodes(seen, "eee", "ddd", "ccc", "bbb", "aaa") {
		t.Fatalf("pages of 2 gave %v", seen)
	}
	if got := all[0]; got.URL != "https://example.com/eee" || !equalTime(&got.CreatedAt, ptr(baseMs.Add(2*time.Second))) {
		t.Fatalf("scanned link %+v", got)
	}
}

func ptr[T any](v T) *T { return &v }

func scanRange(t *testing.T, s app.LinkStore) {
	for i := range 6 {
		mustCreate(t, s, &app.Link{Code: fmt.Sprintf("r%02d", i), URL: "https://example.com/", CreatedAt: base.Add(time.Duration(i) * time.Hour)})
	}
	from, to := base.Add(time.Hour), base.Add(4*time.Hour) // r01..r03
	if got := codes(scanAll(t, s, app.ScanQuery{CreatedFrom: &from, CreatedTo: &to, Limit: 100})); !sameCodes(got, "r03", "r02", "r01") {
		t.Fatalf("created in [+1h, +4h): %v", got)
	}
	if got := codes(scanAll(t, s, app.ScanQuery{Limit: 2})); !sameCodes(got, "r05", "r04") {
		t.Fatalf("limit 2: %v", got)
	}
	n := 0
	if err := s.ScanLinks(context.Background(), app.ScanQuery{Limit: 100}, func(*app.Link) bool { n++; return n < 3 }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("fn returning false after 3 links was called %d times", n)
	}
}

func updateLink(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	mustCreate(t, s, &app.Link{Code: "upd", URL: "https://old.example/", CreatedAt: base})
	newURL := "https://new.example/x"
	exp := base.Add(72 * time.Hour)
	got, err := s.UpdateLink(ctx, "upd", app.LinkUpdate{URL: &newURL, ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	stored := mustFind(t, s, "upd")
	expMs := baseMs.Add(72 * time.Hour)
	for _, l := range []*app.Link{got, stored} {
		if l.URL != newURL || !equalTime(l.ExpiresAt, &expMs) || l.DisabledAt != nil || l.State(base) != app.LinkLive {
			t.Fatalf("after url and expiry update: %+v", l)
		}
	}
	off := base.Add(time.Hour)
	if _, err := s.UpdateLink(ctx, "upd", app.LinkUpdate{DisabledAt: &off}); err != nil {
		t.Fatal(err)
	}
	later := base.Add(2 * time.Hour)
	got, err = s.UpdateLink(ctx, "upd", app.LinkUpdate{DisabledAt: &later})
	if err != nil {
		t.Fatal(err)
	}
	offMs := baseMs.Add(time.Hour)
	if stored := mustFind(t, s, "upd"); !equalTime(stored.DisabledAt, &offMs) || !equalTime(got.DisabledAt, &offMs) ||
		stored.State(base) != app.LinkDisabled || stored.DeletedAt != nil || stored.URL != newURL {
		t.Fatalf("disabled twice: %+v (want disabled since the first time, not deleted)", stored)
	}
	if _, err := s.UpdateLink(ctx, "upd", app.LinkUpdate{Enable: true, ClearExpiry: true}); err != nil {
		t.Fatal(err)
	}
	if stored := mustFind(t, s, "upd"); stored.DisabledAt != nil || stored.ExpiresAt != nil || stored.State(base.Add(1000*time.Hour)) != app.LinkLive {
		t.Fatalf("re-enabled without expiry: %+v", stored)
	}
}

func updateRefused(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	u := "https://x.example/"
	_, err := s.UpdateLink(ctx, "nothere", app.LinkUpdate{URL: &u})
	wantCode(t, "update unknown", err, app.ENOTFOUND)
	mustCreate(t, s, &app.Link{Code: "gone", URL: "https://gone.example/", CreatedAt: base})
	if err := s.DeleteLink(ctx, "gone", base); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateLink(ctx, "gone", app.LinkUpdate{URL: &u, Enable: true})
	wantCode(t, "update deleted", err, app.EGONE)
	if l := mustFind(t, s, "gone"); l.URL != "https://gone.example/" || l.State(base) != app.LinkDeleted {
		t.Fatalf("a refused update changed the deleted link: %+v", l)
	}
}

func protectedLink(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	mustCreate(t, s, &app.Link{Code: "locked", URL: "https://secret.example/", CreatedAt: base, PasswordHash: guardHash})
	l := mustFind(t, s, "locked")
	if l.PasswordHash != guardHash || l.State(base) != app.LinkLive || l.DeletedAt != nil || !l.Protected() {
		t.Fatalf("protected link reads as %+v", l)
	}
	other := "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0b3RoZXI$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if _, err := s.UpdateLink(ctx, "locked", app.LinkUpdate{PasswordHash: &other}); err != nil {
		t.Fatal(err)
	}
	if l := mustFind(t, s, "locked"); l.PasswordHash != other {
		t.Fatalf("new password hash not stored: %q", l.PasswordHash)
	}
	if _, err := s.UpdateLink(ctx, "locked", app.LinkUpdate{ClearPassword: true}); err != nil {
		t.Fatal(err)
	}
	if l := mustFind(t, s, "locked"); l.Protected() || l.DeletedAt != nil || l.State(base) != app.LinkLive {
		t.Fatalf("after removing the password: %+v", l)
	}
}

// A disabled or protected link can be deleted, and stays deleted (with
// its delete time) whatever is changed afterwards.
func deleteGuarded(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	mustCreate(t, s, &app.Link{Code: "locked", URL: "https://secret.example/", CreatedAt: base, PasswordHash: guardHash})
	mustCreate(t, s, &app.Link{Code: "off", URL: "https://off.example/", CreatedAt: base})
	if _, err := s.UpdateLink(ctx, "off", app.LinkUpdate{DisabledAt: &base}); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Minute)
	atMs := baseMs.Add(time.Minute)
	for _, c := range []string{"locked", "off"} {
		if err := s.DeleteLink(ctx, c, at); err != nil {
			t.Fatalf("delete %s: %v", c, err)
		}
		l := mustFind(t, s, c)
		if l.State(base) != app.LinkDeleted || !equalTime(l.DeletedAt, &atMs) {
			t.Fatalf("%s after delete: %+v", c, l)
		}
		wantCode(t, "delete "+c+" again", s.DeleteLink(ctx, c, at), app.ENOTFOUND)
	}
}

func importFields(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	exp, del, dis := base.Add(time.Hour), base.Add(2*time.Hour), base.Add(3*time.Hour)
	in := []*app.Link{
		{Code: "imp-plain", URL: "https://a.example/", CreatedAt: base, Visits: 12},
		{Code: "imp-full", URL: "https://b.example/", CreatedAt: base, ExpiresAt: &exp, DisabledAt: &dis, PasswordHash: guardHash, Visits: 3},
		{Code: "imp-gone", URL: "https://c.example/", CreatedAt: base, DeletedAt: &del},
	}
	out, err := s.ImportLinks(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if !o.Created {
			t.Fatalf("row %d not created: %+v", i, o)
		}
	}
	if l := mustFind(t, s, "imp-plain"); l.Visits != 12 || l.State(base) != app.LinkLive || !equalTime(&l.CreatedAt, &baseMs) {
		t.Fatalf("imp-plain: %+v", l)
	}
	full := mustFind(t, s, "imp-full")
	expMs, disMs, delMs := baseMs.Add(time.Hour), baseMs.Add(3*time.Hour), baseMs.Add(2*time.Hour)
	if full.Visits != 3 || !equalTime(full.ExpiresAt, &expMs) || !equalTime(full.DisabledAt, &disMs) || full.PasswordHash != guardHash ||
		full.DeletedAt != nil || full.State(base) != app.LinkDisabled {
		t.Fatalf("imp-full: %+v", full)
	}
	if l := mustFind(t, s, "imp-gone"); !equalTime(l.DeletedAt, &delMs) || l.State(base) != app.LinkDeleted {
		t.Fatalf("imp-gone: %+v", l)
	}
	// An imported disabled link can be re-enabled; it is then live (its
	// password kept).
	if _, err := s.UpdateLink(ctx, "imp-full", app.LinkUpdate{Enable: true}); err != nil {
		t.Fatal(err)
	}
	if l := mustFind(t, s, "imp-full"); l.State(base) != app.LinkLive || !l.Protected() {
		t.Fatalf("imp-full enabled: %+v", l)
	}
}

func importTaken(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	mustCreate(t, s, &app.Link{Code: "have", URL: "https://have.example/", CreatedAt: base})
	out, err := s.ImportLinks(ctx, []*app.Link{
		{Code: "have", URL: "https://have.example/", CreatedAt: base},
		{Code: "new1", URL: "https://one.example/", CreatedAt: base},
		{Code: "have", URL: "https://other.example/", CreatedAt: base},
		{Code: "new1", URL: "https://one-again.example/", CreatedAt: base},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []app.ImportOutcome{
		{ExistingURL: "https://have.example/"},
		{Created: true},
		{ExistingURL: "https://have.example/"},
		{ExistingURL: "https://one.example/"},
	}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, out[i], want[i])
		}
	}
	if l := mustFind(t, s, "have"); l.URL != "https://have.example/" {
		t.Fatalf("import replaced a taken code: %+v", l)
	}
	if out, err := s.ImportLinks(ctx, nil); err != nil || len(out) != 0 {
		t.Fatalf("empty batch: %v %v", out, err)
	}
}

func setClock(t *testing.T, s app.LinkStore, now func() time.Time) {
	t.Helper()
	c, ok := s.(clocked)
	if !ok {
		t.Fatalf("%T has no SetClock: the contract cannot date its visits", s)
	}
	c.SetClock(now)
}

// Visits land on the store's day (UTC) as well as in the total; unknown
// codes are dropped; the range is [from, to).
func dailyVisits(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	day1 := time.Date(2026, 3, 1, 23, 59, 0, 0, time.FixedZone("X", -5*3600)) // 2 March in UTC
	now := day1
	setClock(t, s, func() time.Time { return now })
	mustCreate(t, s, &app.Link{Code: "daily", URL: "https://x.example/", CreatedAt: base})
	mustCreate(t, s, &app.Link{Code: "other", URL: "https://y.example/", CreatedAt: base})
	if err := s.AddVisits(ctx, map[string]int64{"daily": 2, "other": 1, "unknown": 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddVisits(ctx, map[string]int64{"daily": 3}); err != nil {
		t.Fatal(err)
	}
	now = day1.Add(2 * 24 * time.Hour) // 4 March
	if err := s.AddVisits(ctx, map[string]int64{"daily": 7}); err != nil {
		t.Fatal(err)
	}
	mar := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	got, err := s.DailyVisits(ctx, "daily", mar(1), mar(5))
	if err != nil {
		t.Fatal(err)
	}
	want := []app.DayCount{{Day: mar(2), Visits: 5}, {Day: mar(4), Visits: 7}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("daily visits %v, want %v", got, want)
	}
	if got, _ := s.DailyVisits(ctx, "daily", mar(3), mar(4)); len(got) != 0 {
		t.Fatalf("3 March: %v, want nothing", got)
	}
	if got, _ := s.DailyVisits(ctx, "daily", mar(4), mar(5)); len(got) != 1 || got[0].Visits != 7 {
		t.Fatalf("[4, 5) March: %v", got)
	}
	if got, _ := s.DailyVisits(ctx, "unknown", mar(1), mar(5)); len(got) != 0 {
		t.Fatalf("visits of an unknown code were kept: %v", got)
	}
	if l := mustFind(t, s, "daily"); l.Visits != 12 {
		t.Fatalf("total %d, want 12", l.Visits)
	}
}

func pruneVisits(t *testing.T, s app.LinkStore) {
	ctx := context.Background()
	var now time.Time
	setClock(t, s, func() time.Time { return now })
	var cs []string
	for i := range 5 {
		c := fmt.Sprintf("p%02d", i)
		cs = append(cs, c)
		mustCreate(t, s, &app.Link{Code: c, URL: "https://x.example/", CreatedAt: base})
	}
	for d := 1; d <= 4; d++ { // 1..4 April, five links each: 20 rows
		now = time.Date(2026, 4, d, 12, 0, 0, 0, time.UTC)
		counts := map[string]int64{}
		for _, c := range cs {
			counts[c] = int64(d)
		}
		if err := s.AddVisits(ctx, counts); err != nil {
			t.Fatal(err)
		}
	}
	cut := time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC)
	n, err := s.PruneVisits(ctx, cut, 4)
	if err != nil || n != 4 {
		t.Fatalf("prune with limit 4: %d %v, want 4 rows", n, err)
	}
	n2, err := s.PruneVisits(ctx, cut, 100)
	if err != nil || n2 != 6 {
		t.Fatalf("second prune: %d %v, want the other 6 rows of 1 and 2 April", n2, err)
	}
	got, err := s.DailyVisits(ctx, "p00", time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC))
	if err != nil || len(got) != 2 || got[0].Visits != 3 || got[1].Visits != 4 {
		t.Fatalf("after pruning before 3 April: %v %v", got, err)
	}
	if l := mustFind(t, s, "p00"); l.Visits != 10 {
		t.Fatalf("pruning changed the total: %d", l.Visits)
	}
}

func scanCancelled(t *testing.T, s app.LinkStore) {
	mustCreate(t, s, &app.Link{Code: "one", URL: "https://x.example/", CreatedAt: base})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.ScanLinks(ctx, app.ScanQuery{Limit: 10}, func(*app.Link) bool { return true })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("scan with a cancelled context: %v, want context.Canceled", err)
	}
}
