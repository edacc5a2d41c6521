// Package mock holds fakes of the app interfaces for unit tests: structs of
// function fields, so each test sets only the behaviour it needs.
package mock

import (
	"context"
	"time"

	"github.com/obsshort/shortener/app"
)

var _ app.LinkStore = (*LinkStore)(nil)

// LinkStore is a fake app.LinkStore.
type LinkStore struct {
	CreateLinkFn func(ctx context.Context, l *app.Link) error
	FindLinkFn   func(ctx context.Context, code string) (*app.Link, error)
	DeleteLinkFn func(ctx context.Context, code string, at time.Time) error
	AddVisitsFn  func(ctx context.Context, counts map[string]int64) error
	ReadyFn      func(ctx context.Context) error

	ScanLinksFn   func(ctx context.Context, q app.ScanQuery, fn func(*app.Link) bool) error
	UpdateLinkFn  func(ctx context.Context, code string, u app.LinkUpdate) (*app.Link, error)
	ImportLinksFn func(ctx context.Context, links []*app.Link) ([]app.ImportOutcome, error)
	DailyVisitsFn func(ctx context.Context, code string, from, to time.Time) ([]app.DayCount, error)
	PruneVisitsFn func(ctx context.Context, before time.Time, limit int) (int64, error)
}

// ScanLinks calls ScanLinksFn.
func (s *LinkStore) ScanLinks(ctx context.Context, q app.ScanQuery, fn func(*app.Link) bool) error {
	return s.ScanLinksFn(ctx, q, fn)
}

// UpdateLink calls UpdateLinkFn.
func (s *LinkStore) UpdateLink(ctx context.Context, code string, u app.LinkUpdate) (*app.Link, error) {
	return s.UpdateLinkFn(ctx, code, u)
}

// ImportLinks calls ImportLinksFn.
func (s *LinkStore) ImportLinks(ctx context.Context, links []*app.Link) ([]app.ImportOutcome, error) {
	return s.ImportLinksFn(ctx, links)
}

// DailyVisits calls DailyVisitsFn.
func (s *LinkStore) DailyVisits(ctx context.Context, code string, from, to time.Time) ([]app.DayCount, error) {
	return s.DailyVisitsFn(ctx, code, from, to)
}

// PruneVisits calls PruneVisitsFn.
func (s *LinkStore) PruneVisits(ctx context.Context, before time.Time, limit int) (int64, error) {
	return s.PruneVisitsFn(ctx, before, limit)
}

// CreateLink calls CreateLinkFn.
func (s *LinkStore) CreateLink(ctx context.Context, l *app.Link) error {
	return s.CreateLinkFn(ctx, l)
}

// FindLink calls FindLinkFn.
func (s *LinkStore) FindLink(ctx context.Context, code string) (*app.Link, error) {
	return s.FindLinkFn(ctx, code)
}

// DeleteLink calls DeleteLinkFn.
func (s *LinkStore) DeleteLink(ctx context.Context, code string, at time.Time) error {
	return s.DeleteLinkFn(ctx, code, at)
}

// AddVisits calls AddVisitsFn.
func (s *LinkStore) AddVisits(ctx context.Context, counts map[string]int64) error {
	return s.AddVisitsFn(ctx, counts)
}

// Ready calls ReadyFn.
func (s *LinkStore) Ready(ctx context.Context) error { return s.ReadyFn(ctx) }
