package mock

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/obsshort/shortener/app"
)

var _ app.LinkStore = (*MemStore)(nil)

// MemStore is an in-memory app.LinkStore that behaves like the SQLite store
// (both pass app/storetest): codes are unique whatever the link's state,
// only a live link can be deleted, times are kept to the millisecond in
// UTC, visits to unknown codes are dropped. Use it where a test needs a
// working store without a file; use LinkStore to inject failures.
type MemStore struct {
	mu    sync.Mutex
	links map[string]*app.Link
	daily map[dayKey]int64
	now   func() time.Time
}

type dayKey struct {
	code string
	day  time.Time
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{links: map[string]*app.Link{}, daily: map[dayKey]int64{}, now: time.Now}
}

// SetClock sets the clock that dates per-day visit counts.
func (s *MemStore) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// storedTime is t as the SQLite store keeps it: UTC milliseconds.
func storedTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

func storedTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := storedTime(*t)
	return &v
}

func copyLink(l *app.Link) *app.Link {
	cp := *l
	cp.ExpiresAt = storedTimePtr(l.ExpiresAt)
	cp.DeletedAt = storedTimePtr(l.DeletedAt)
	cp.DisabledAt = storedTimePtr(l.DisabledAt)
	return &cp
}

// CreateLink stores a new live link with no visits; a taken code gives
// ECONFLICT.
func (s *MemStore) CreateLink(ctx context.Context, l *app.Link) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.links[l.Code]; ok {
		return app.Errorf(app.ECONFLICT, "code already taken")
	}
	stored := &app.Link{Code: l.Code, URL: l.URL, CreatedAt: storedTime(l.CreatedAt), ExpiresAt: storedTimePtr(l.ExpiresAt), PasswordHash: l.PasswordHash}
	s.links[l.Code] = stored
	return nil
}

// FindLink returns a copy of the link with code, whatever its state.
func (s *MemStore) FindLink(ctx context.Context, code string) (*app.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[code]
	if !ok {
		return nil, app.Errorf(app.ENOTFOUND, "no link with code %q", code)
	}
	return copyLink(l), nil
}

// DeleteLink marks a live link deleted; a deleted or unknown code gives
// ENOTFOUND.
func (s *MemStore) DeleteLink(ctx context.Context, code string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[code]
	if !ok || l.DeletedAt != nil {
		return app.Errorf(app.ENOTFOUND, "no live link with code %q", code)
	}
	l.DeletedAt = storedTimePtr(&at)
	return nil
}

// AddVisits adds counts to the links that exist, in any state.
func (s *MemStore) AddVisits(ctx context.Context, counts map[string]int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	day := app.Day(s.now())
	for code, n := range counts {
		if l, ok := s.links[code]; ok {
			l.Visits += n
			s.daily[dayKey{code, day}] += n
		}
	}
	return nil
}

// before reports whether a comes before b in the newest-first order.
func before(a, b *app.Link) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.Code > b.Code
}

// ScanLinks implements app.LinkStore (a sort of every link per call: fine
// for tests).
func (s *MemStore) ScanLinks(ctx context.Context, q app.ScanQuery, fn func(*app.Link) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if q.Limit < 1 {
		return app.Errorf(app.EINTERNAL, "scan links: limit %d, want at least 1", q.Limit)
	}
	s.mu.Lock()
	var all []*app.Link
	for _, l := range s.links {
		switch {
		case q.After != nil && !before(&app.Link{CreatedAt: storedTime(q.After.CreatedAt), Code: q.After.Code}, l):
		case q.CreatedFrom != nil && l.CreatedAt.Before(storedTime(*q.CreatedFrom)):
		case q.CreatedTo != nil && !l.CreatedAt.Before(storedTime(*q.CreatedTo)):
		default:
			all = append(all, copyLink(l))
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return before(all[i], all[j]) })
	for i, l := range all {
		if i == q.Limit || !fn(l) {
			return nil
		}
	}
	return nil
}

// UpdateLink implements app.LinkStore.
func (s *MemStore) UpdateLink(ctx context.Context, code string, u app.LinkUpdate) (*app.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[code]
	switch {
	case !ok:
		return nil, app.Errorf(app.ENOTFOUND, "no link with code %q", code)
	case l.DeletedAt != nil:
		return nil, app.Errorf(app.EGONE, "link %s was deleted", code)
	}
	u.Apply(l)
	l.ExpiresAt, l.DisabledAt = storedTimePtr(l.ExpiresAt), storedTimePtr(l.DisabledAt)
	return copyLink(l), nil
}

// ImportLinks implements app.LinkStore.
func (s *MemStore) ImportLinks(ctx context.Context, links []*app.Link) ([]app.ImportOutcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]app.ImportOutcome, len(links))
	for i, l := range links {
		if old, ok := s.links[l.Code]; ok {
			out[i].ExistingURL = old.URL
			continue
		}
		stored := copyLink(l)
		stored.CreatedAt = storedTime(l.CreatedAt)
		s.links[l.Code] = stored
		out[i].Created = true
	}
	return out, nil
}

// DailyVisits implements app.LinkStore.
func (s *MemStore) DailyVisits(ctx context.Context, code string, from, to time.Time) ([]app.DayCount, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.DayCount
	for k, n := range s.daily {
		if k.code == code && !k.day.Before(app.Day(from)) && k.day.Before(app.Day(to)) {
			out = append(out, app.DayCount{Day: k.day, Visits: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day.Before(out[j].Day) })
	return out, nil
}

// PruneVisits implements app.LinkStore.
func (s *MemStore) PruneVisits(ctx context.Context, beforeDay time.Time, limit int) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k := range s.daily {
		if n == int64(limit) {
			break
		}
		if k.day.Before(app.Day(beforeDay)) {
			delete(s.daily, k)
			n++
		}
	}
	return n, nil
}

// Ready always succeeds.
func (s *MemStore) Ready(ctx context.Context) error { return ctx.Err() }

var _ app.TargetSource = (*MemStore)(nil)

// ListTargets returns up to limit links live at now (not deleted,
// disabled or expired; protected ones flagged) with codes after after, in
// code order (byte order, as the stores' ORDER BY code).
func (s *MemStore) ListTargets(ctx context.Context, after string, limit int, now time.Time) ([]app.CodeTarget, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.CodeTarget
	for code, l := range s.links {
		if code > after && l.State(now) == app.LinkLive {
			out = append(out, app.CodeTarget{Code: code, Target: app.TargetOf(l)})
		}
	}
	slices.SortFunc(out, func(a, b app.CodeTarget) int { return strings.Compare(a.Code, b.Code) })
	return out[:min(limit, len(out))], nil
}
