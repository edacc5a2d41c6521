package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/linkfile"
	"github.com/obsshort/shortener/app/mock"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newService(t *testing.T, store app.LinkStore, now *time.Time) *app.Service {
	t.Helper()
	return &app.Service{Store: store, Now: func() time.Time { return *now }, Passwords: app.NewPasswordHasher(cheap),
		SelfHosts: []string{"sho.rt"}, CodeKey: []byte("test key")}
}

func TestListFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			now := t0
			svc := newService(t, kind.open(t), &now)
			mk := func(alias, url string, mod func(*app.CreateRequest)) {
				t.Helper()
				req := app.CreateRequest{URL: url, Alias: alias}
				if mod != nil {
					mod(&req)
				}
				if _, err := svc.Create(ctx, req); err != nil {
					t.Fatal(err)
				}
				now = now.Add(time.Minute)
			}
			soon := t0.Add(90 * time.Minute)
			for i := range 12 {
				mk(fmt.Sprintf("link%02d", i), fmt.Sprintf("https://site%d.example/Path", i%3), nil)
			}
			mk("expiring", "https://exp.example/", func(r *app.CreateRequest) { r.ExpiresAt = &soon })
			mk("locked", "https://secret.example/", func(r *app.CreateRequest) { r.Password = "pw-1234" })
			mk("gone", "https://gone.example/", nil)
			if err := svc.Delete(ctx, "gone"); err != nil {
				t.Fatal(err)
			}
			off := true
			if _, err := svc.Update(ctx, "link03", app.UpdateRequest{Disabled: &off}); err != nil {
				t.Fatal(err)
			}
			now = t0.Add(2 * time.Hour) // "expiring" has expired

			// All, newest first, in pages of 5: every link once.
			var all []string
			cursor := ""
			for page := 0; ; page++ {
				p, err := svc.List(ctx, app.ListQuery{Limit: 5, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Links) > 5 || page > 5 {
					t.Fatalf("page %d: %d links", page, len(p.Links))
				}
				for _, l := range p.Links {
					all = append(all, l.Code)
				}
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			if len(all) != 15 || all[0] != "gone" || all[14] != "link00" {
				t.Fatalf("all links: %v", all)
			}
			for _, tt := range []struct {
				q    app.ListQuery
				want string
			}{
				{app.ListQuery{State: "expired"}, "expiring"},
				{app.ListQuery{State: "deleted"}, "gone"},
				{app.ListQuery{State: "disabled"}, "link03"},
				{app.ListQuery{State: "protected"}, "locked"},
				{app.ListQuery{Search: "SITE2.example"}, "link11 link08 link05 link02"},
				{app.ListQuery{Search: "LINK1"}, "link11 link10"},
				{app.ListQuery{Search: "site1", State: "live"}, "link10 link07 link04 link01"},
				{app.ListQuery{CreatedFrom: ptr(t0.Add(2 * time.Minute)), CreatedTo: ptr(t0.Add(5 * time.Minute))}, "link04 link03 link02"},
			} {
				p, err := svc.List(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, l := range p.Links {
					got = append(got, l.Code)
				}
				if strings.Join(got, " ") != tt.want || p.NextCursor != "" {
					t.Errorf("%+v: %v (next %q), want %s", tt.q, got, p.NextCursor, tt.want)
				}
			}
			for _, q := range []app.ListQuery{{State: "asleep"}, {Limit: app.MaxListLimit + 1}, {Limit: -1}, {Cursor: "nonsense"},
				{Search: strings.Repeat("x", 201)}, {CreatedFrom: &t0, CreatedTo: &t0}} {
				if _, err := svc.List(ctx, q); app.ErrorCode(err) != app.EINVALID {
					t.Errorf("%+v: %v, want EINVALID", q, err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A filter that matches nothing reads at most ListScanWindow links per
// call and hands back a cursor to go on from; following the cursors ends.
func TestListWorkIsBounded(t *testing.T) {
	ctx := context.Background()
	store := mock.NewMemStore()
	var links []*app.Link
	for i := range app.ListScanWindow + 500 {
		links = append(links, &app.Link{Code: fmt.Sprintf("c%06d", i), URL: "https://x.example/", CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	if _, err := store.ImportLinks(ctx, links); err != nil {
		t.Fatal(err)
	}
	var reads []int
	counting := &mock.LinkStore{ScanLinksFn: func(ctx context.Context, q app.ScanQuery, fn func(*app.Link) bool) error {
		n := 0
		err := store.ScanLinks(ctx, q, func(l *app.Link) bool { n++; return fn(l) })
		reads = append(reads, n)
		return err
	}}
	now := t0
	svc := newService(t, counting, &now)
	p, err := svc.List(ctx, app.ListQuery{Search: "nowhere"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Links) != 0 || p.NextCursor == "" || reads[0] != app.ListScanWindow {
		t.Fatalf("first call: %d links, cursor %q, %d links read; want none, a cursor, %d read", len(p.Links), p.NextCursor, reads[0], app.ListScanWindow)
	}
	p, err = svc.List(ctx, app.ListQuery{Search: "nowhere", Cursor: p.NextCursor})
	if err != nil || len(p.Links) != 0 || p.NextCursor != "" || reads[1] != 500 {
		t.Fatalf("second call: %+v %v, %d read; want the last 500 read and no cursor", p, err, reads[1])
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			now := t0
			cache := &mapCache{m: map[string]app.Target{}}
			svc := newService(t, kind.open(t), &now)
			svc.Cache = cache
			if _, err := svc.Create(ctx, app.CreateRequest{URL: "https://old.example/", Alias: "upd"}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Resolve(ctx, "upd"); err != nil {
				t.Fatal(err)
			}
			if _, ok := cache.m["upd"]; !ok {
				t.Fatal("resolve did not cache the link")
			}
			future, past := t0.Add(time.Hour), t0.Add(-time.Hour)
			bad := "javascript:alert(1)"
			self := "http://sho.rt/x"
			good := "https://new.example/"
			short := "abc"
			for _, tt := range []struct {
				name string
				code string
				req  app.UpdateRequest
				want string
			}{
				{"nothing", "upd", app.UpdateRequest{}, app.EINVALID},
				{"bad url", "upd", app.UpdateRequest{URL: &bad}, app.EINVALID},
				{"self url", "upd", app.UpdateRequest{URL: &self}, app.EINVALID},
				{"past expiry", "upd", app.UpdateRequest{ExpiresAt: &past}, app.EINVALID},
				{"short password", "upd", app.UpdateRequest{Password: &short}, app.EINVALID},
				{"unknown", "nothere", app.UpdateRequest{URL: &good}, app.ENOTFOUND},
				{"bad code", "../x", app.UpdateRequest{URL: &good}, app.ENOTFOUND},
			} {
				if _, err := svc.Update(ctx, tt.code, tt.req); app.ErrorCode(err) != tt.want {
					t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
				}
			}
			if _, ok := cache.m["upd"]; !ok {
				t.Fatal("a refused update dropped the cached link")
			}
			l, err := svc.Update(ctx, "upd", app.UpdateRequest{URL: &good, ExpiresAt: &future})
			if err != nil || l.URL != good || !l.ExpiresAt.Equal(future) {
				t.Fatalf("update: %+v %v", l, err)
			}
			if _, ok := cache.m["upd"]; ok {
				t.Fatal("the cached link survived its update")
			}
			if got, _ := svc.Resolve(ctx, "upd"); got.URL != good {
				t.Fatalf("resolve after update: %+v", got)
			}
			off, on := true, false
			if _, err := svc.Update(ctx, "upd", app.UpdateRequest{Disabled: &off}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Resolve(ctx, "upd"); app.ErrorCode(err) != app.EGONE || !strings.Contains(err.Error(), "disabled") {
				t.Fatalf("resolve a disabled link: %v", err)
			}
			if _, err := svc.Update(ctx, "upd", app.UpdateRequest{Disabled: &on, ClearExpiry: true}); err != nil {
				t.Fatal(err)
			}
			now = t0.Add(10 * time.Hour)
			if got, err := svc.Resolve(ctx, "upd"); err != nil || got.URL != good {
				t.Fatalf("re-enabled without expiry, 10 h later: %v", err)
			}
			if err := svc.Delete(ctx, "upd"); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Update(ctx, "upd", app.UpdateRequest{Disabled: &on}); app.ErrorCode(err) != app.EGONE {
				t.Fatalf("update a deleted link: %v, want EGONE", err)
			}
		})
	}
}

func TestProtectedLink(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			now := t0
			obs := newObserver()
			visits := app.NewVisitCounter(nil, nil, nil)
			svc := newService(t, kind.open(t), &now)
			svc.Observer, svc.Visits = obs, visits
			l, err := svc.Create(ctx, app.CreateRequest{URL: "https://secret.example/", Alias: "locked", Password: "open sesame"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(l.PasswordHash, "$argon2id$") || strings.Contains(l.PasswordHash, "open sesame") {
				t.Fatalf("stored password %q", l.PasswordHash)
			}
			got, err := svc.Resolve(ctx, "locked")
			if app.ErrorCode(err) != app.EPROTECTED || got != (app.Target{}) {
				t.Fatalf("resolve a protected link: %+v %v, want EPROTECTED and no link", got, err)
			}
			if _, err := svc.Unlock(ctx, "locked", "open says me"); app.ErrorCode(err) != app.EFORBIDDEN {
				t.Fatalf("wrong password: %v", err)
			}
			if visits.Pending("locked") != 0 {
				t.Fatal("a visit was counted without the password")
			}
			got, err = svc.Unlock(ctx, "locked", "open sesame")
			if err != nil || got.URL != "https://secret.example/" {
				t.Fatalf("right password: %+v %v", got, err)
			}
			if visits.Pending("locked") != 1 || obs.redirects[app.RedirectProtected] != 1 || obs.redirects[app.RedirectFound] != 1 {
				t.Fatalf("visits %d, observed %v", visits.Pending("locked"), obs.redirects)
			}
			if _, err := svc.Create(ctx, app.CreateRequest{URL: "https://x.example/", Password: "abc"}); app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("too short a password: %v", err)
			}
			// Removing the password makes it an ordinary link.
			if _, err := svc.Update(ctx, "locked", app.UpdateRequest{ClearPassword: true}); err != nil {
				t.Fatal(err)
			}
			if got, err := svc.Resolve(ctx, "locked"); err != nil || got.URL != "https://secret.example/" {
				t.Fatalf("after removing the password: %v", err)
			}
			// Unlock of an unprotected link just follows it; of an unknown
			// one, not found.
			if _, err := svc.Unlock(ctx, "nothere", "x"); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("unlock unknown: %v", err)
			}
		})
	}
}

func TestDailyVisitsService(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			now := t0
			store := kind.open(t)
			store.(interface{ SetClock(func() time.Time) }).SetClock(func() time.Time { return now })
			visits := app.NewVisitCounter(store, nil, nil)
			svc := newService(t, store, &now)
			svc.Visits = visits
			if _, err := svc.Create(ctx, app.CreateRequest{URL: "https://x.example/", Alias: "daily"}); err != nil {
				t.Fatal(err)
			}
			follow := func(n int) {
				for range n {
					if _, err := svc.Resolve(ctx, "daily"); err != nil {
						t.Fatal(err)
					}
				}
			}
			follow(3)
			if err := visits.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			now = t0.Add(48 * time.Hour)
			follow(2) // pending, not flushed: counted today
			days, err := svc.DailyVisits(ctx, "daily", t0.AddDate(0, 0, -1), now.AddDate(0, 0, 1))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range days {
				got = append(got, fmt.Sprintf("%s=%d", d.Day.Format("01-02"), d.Visits))
			}
			if strings.Join(got, " ") != "05-31=0 06-01=3 06-02=0 06-03=2" {
				t.Fatalf("days %v", got)
			}
			if _, err := svc.DailyVisits(ctx, "nothere", t0, now); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("unknown code: %v", err)
			}
			if _, err := svc.DailyVisits(ctx, "daily", now, t0); app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("reversed range: %v", err)
			}
			if _, err := svc.DailyVisits(ctx, "daily", t0, t0.AddDate(0, 0, app.MaxVisitDays+1)); app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("range too long: %v", err)
			}
			if err := visits.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// Keep 2 days (today and yesterday): 1 June goes.
			if n, err := svc.PruneVisits(ctx, 2); err != nil || n != 1 {
				t.Fatalf("prune: %d %v, want 1 row", n, err)
			}
			days, _ = svc.DailyVisits(ctx, "daily", t0, now.AddDate(0, 0, 1))
			if days[0].Visits != 0 || days[2].Visits != 2 {
				t.Fatalf("after pruning: %v", days)
			}
		})
	}
}

// importFile runs an import of file (auto format) and returns the totals
// and each row's result as "line:result:code:reason".
func importFile(t *testing.T, svc *app.Service, file string) (app.ImportTotals, []string) {
	t.Helper()
	rd, err := linkfile.NewReader(strings.NewReader(file), linkfile.Auto)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	totals, err := svc.Import(context.Background(), rd, func(r app.ImportResult) error {
		rows = append(rows, fmt.Sprintf("%d:%s:%s:%s", r.Line, r.Result, r.Code, r.Reason))
		return nil
	})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return totals, rows
}

func TestImportRulesAndIdempotence(t *testing.T) {
	hash, _ := app.HashPassword("pw-1234", cheap)
	file := strings.Join([]string{
		`{"code":"ok1","url":"https://a.example/","created_at":"2026-01-01T00:00:00Z","visits":5}`,
		`{"code":"ok2","url":"https://B.example/x","password_hash":"` + hash + `"}`,
		`{"code":"gone","url":"https://c.example/","deleted_at":"2026-02-01T00:00:00Z"}`,
		`{"code":"old","url":"https://d.example/","created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-02T00:00:00Z"}`,
		`{"code":"","url":"https://derived.example/"}`,
		`{"code":"","url":"https://derived.example/"}`,
		`{"code":"js","url":"javascript:alert(1)"}`,
		`{"code":"self","url":"http://sho.rt/abc"}`,
		`{"code":"a b","url":"https://e.example/"}`,
		`{"code":"api","url":"https://e.example/"}`,
		`{"code":"neg","url":"https://e.example/","visits":-1}`,
		`{"code":"fut","url":"https://e.example/","created_at":"2027-01-01T00:00:00Z"}`,
		`{"code":"exp","url":"https://e.example/","created_at":"2026-01-02T00:00:00Z","expires_at":"2026-01-01T00:00:00Z"}`,
		`{"code":"hash","url":"https://e.example/","password_hash":"plaintext"}`,
		`{"code":"ok1","url":"https://other.example/"}`,
		`{"code":"ok1","url":"https://a.example/"}`,
		`not json`,
	}, "\n")
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			now := t0
			store := kind.open(t)
			svc := newService(t, store, &now)
			totals, rows := importFile(t, svc, file)
			want := app.ImportTotals{Created: 5, Skipped: 2, Refused: 10}
			if totals != want {
				t.Fatalf("totals %+v, want %+v\n%s", totals, want, strings.Join(rows, "\n"))
			}
			for _, w := range []string{
				"1:created:ok1:", "2:created:ok2:", "3:created:gone:", "4:created:old:",
				"7:refused:js:url scheme \"javascript\" is not allowed",
				"8:refused:self:url points at this shortener",
				"9:refused:a b:code: alias may contain only",
				"10:refused:api:code: alias \"api\" is reserved",
				"11:refused:neg:visits -1 is negative",
				"12:refused:fut:created_at 2027-01-01T00:00:00Z is in the future",
				"13:refused:exp:expires_at 2026-01-01T00:00:00Z is not after created_at",
				"14:refused:hash:password_hash is not an Argon2id hash",
				"15:refused:ok1:code ok1 is taken by another URL (https://a.example/)",
				"16:skipped:ok1:already present",
				"17:refused::not a JSON object",
			} {
				if !containsPrefix(rows, w) {
					t.Errorf("no row result starting %q in\n%s", w, strings.Join(rows, "\n"))
				}
			}
			// The two rows without a code share one derived code: made once.
			if !strings.HasPrefix(rows[4], "5:created:") || !strings.HasPrefix(rows[5], "6:skipped:"+rows[4][len("5:created:"):len("5:created:")+app.CodeLength]) {
				t.Errorf("derived codes: %q, %q", rows[4], rows[5])
			}
			ok2, _ := store.FindLink(context.Background(), "ok2")
			if ok2.URL != "https://b.example/x" || ok2.PasswordHash != hash {
				t.Errorf("imported protected link %+v: host not normalised or hash lost", ok2)
			}
			if ok1, _ := store.FindLink(context.Background(), "ok1"); ok1.Visits != 5 {
				t.Errorf("imported visits %d, want 5", ok1.Visits)
			}
			// The second run changes nothing: every row created before is
			// now skipped, the refused ones are refused again.
			totals2, _ := importFile(t, svc, file)
			if totals2 != (app.ImportTotals{Created: 0, Skipped: 7, Refused: 10}) {
				t.Fatalf("second run: %+v", totals2)
			}
		})
	}
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// More rows than one batch; codes repeated across batch boundaries.
func TestImportAcrossBatches(t *testing.T) {
	var b strings.Builder
	b.WriteString("url,alias\n")
	for i := range 1200 {
		fmt.Fprintf(&b, "https://x.example/%d,c%04d\n", i%1000, i%1000) // rows 1000..1199 repeat 0..199
	}
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			now := t0
			svc := newService(t, kind.open(t), &now)
			totals, _ := importFile(t, svc, b.String())
			if totals != (app.ImportTotals{Created: 1000, Skipped: 200}) {
				t.Fatalf("totals %+v", totals)
			}
		})
	}
}

type failingReader struct{ n int }

func (r *failingReader) Next() (app.ImportRow, error) {
	r.n++
	if r.n > 3 {
		return app.ImportRow{}, errors.New("disk read error")
	}
	return app.ImportRow{Line: r.n, Code: fmt.Sprintf("r%d0", r.n), URL: "https://x.example/"}, nil
}

// A file that cannot be read further, or a store that fails, stops the
// import with an error; the rows before are stored and reported, so a
// second run resumes.
func TestImportStops(t *testing.T) {
	ctx := context.Background()
	now := t0
	store := mock.NewMemStore()
	svc := newService(t, store, &now)
	var reported int
	totals, err := svc.Import(ctx, &failingReader{}, func(app.ImportResult) error { reported++; return nil })
	if err == nil || !strings.Contains(err.Error(), "disk read error") || totals.Created != 3 || reported != 3 {
		t.Fatalf("read error: %+v %v (%d reported)", totals, err, reported)
	}
	if _, err := store.FindLink(ctx, "r30"); err != nil {
		t.Fatalf("rows before the read error were not stored: %v", err)
	}
	down := &mock.LinkStore{
		FindLinkFn: store.FindLink,
		ImportLinksFn: func(context.Context, []*app.Link) ([]app.ImportOutcome, error) {
			return nil, app.Errorf(app.EUNAVAILABLE, "the disk is full")
		},
	}
	svc = newService(t, down, &now)
	rd, _ := linkfile.NewReader(strings.NewReader("https://a.example/,aaa\n"), linkfile.Auto)
	if _, err := svc.Import(ctx, rd, func(app.ImportResult) error { return nil }); app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("store down: %v, want EUNAVAILABLE", err)
	}
}
