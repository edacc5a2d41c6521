package mock

import (
	"context"
	"slices"
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
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{links: map[string]*app.Link{}} }

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
	stored := &app.Link{Code: l.Code, URL: l.URL, CreatedAt: storedTime(l.CreatedAt), ExpiresAt: storedTimePtr(l.ExpiresAt)}
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
	for code, n := range counts {
		if l, ok := s.links[code]; ok {
			l.Visits += n
		}
	}
	return nil
}

// Ready always succeeds.
func (s *MemStore) Ready(ctx context.Context) error { return ctx.Err() }

var _ app.TargetSource = (*MemStore)(nil)

// ListTargets returns up to limit links live at now with codes after
// after, in code order (byte order, as the stores' ORDER BY code).
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
