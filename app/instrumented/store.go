// Package instrumented wraps an app.LinkStore so that every call is measured
// the same way whatever the backend: a duration and, when the store failed,
// an error in the store metrics, and a child span per call. It also decides
// what a store error is (Failed): the store could not do its job, as opposed
// to answering "no such link" or "code taken".
package instrumented

import (
	"context"
	"time"

	"github.com/obsshort/shortener/app"
)

// Recorder records store operations (telemetry.Metrics).
type Recorder interface {
	// StoreOp records one operation; err is nil unless the store failed.
	StoreOp(op string, d time.Duration, err error)
}

// Tracer starts a span per store operation (telemetry.Tracing).
type Tracer interface {
	// StartStoreSpan starts a span; end marks it failed when err is not nil.
	StartStoreSpan(ctx context.Context, op string) (context.Context, func(err error))
}

// Store measures each call of the wrapped store. Metrics and Tracing must
// not be nil interfaces (nil *telemetry.Metrics and *telemetry.Tracing are
// fine: they record nothing).
type Store struct {
	Next    app.LinkStore
	Metrics Recorder
	Tracing Tracer
}

var _ app.LinkStore = (*Store)(nil)

// Operation names, the operation label of the store metrics.
const (
	OpCreate    = "create"
	OpGet       = "get"
	OpDelete    = "delete"
	OpAddVisits = "add_visits"
	OpReady     = "ready"

	OpScan        = "scan"
	OpUpdate      = "update"
	OpImport      = "import"
	OpDailyVisits = "daily_visits"
	OpPruneVisits = "prune_visits"
)

// Failed reports whether err means the store failed (unavailable, or an
// error without a domain code such as a driver error or a timeout). Domain
// answers are not failures: a code not found, a code taken, input refused,
// a link gone, missing or wrong credentials.
func Failed(err error) bool {
	switch app.ErrorCode(err) {
	case app.EUNAVAILABLE, app.EINTERNAL:
		return true
	}
	return false
}

// observe times op and reports it as failed only when Failed says so.
func (s *Store) observe(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, end := s.Tracing.StartStoreSpan(ctx, op)
	start := time.Now()
	err := fn(ctx)
	var failure error
	if Failed(err) {
		failure = err
	}
	s.Metrics.StoreOp(op, time.Since(start), failure)
	end(failure)
	return err
}

// CreateLink implements app.LinkStore.
func (s *Store) CreateLink(ctx context.Context, l *app.Link) error {
	return s.observe(ctx, OpCreate, func(ctx context.Context) error { return s.Next.CreateLink(ctx, l) })
}

// FindLink implements app.LinkStore.
func (s *Store) FindLink(ctx context.Context, code string) (*app.Link, error) {
	var l *app.Link
	err := s.observe(ctx, OpGet, func(ctx context.Context) error {
		var err error
		l, err = s.Next.FindLink(ctx, code)
		return err
	})
	return l, err
}

// DeleteLink implements app.LinkStore.
func (s *Store) DeleteLink(ctx context.Context, code string, at time.Time) error {
	return s.observe(ctx, OpDelete, func(ctx context.Context) error { return s.Next.DeleteLink(ctx, code, at) })
}

// AddVisits implements app.LinkStore.
func (s *Store) AddVisits(ctx context.Context, counts map[string]int64) error {
	return s.observe(ctx, OpAddVisits, func(ctx context.Context) error { return s.Next.AddVisits(ctx, counts) })
}

// Ready implements app.LinkStore.
func (s *Store) Ready(ctx context.Context) error {
	return s.observe(ctx, OpReady, s.Next.Ready)
}

// ScanLinks implements app.LinkStore.
func (s *Store) ScanLinks(ctx context.Context, q app.ScanQuery, fn func(*app.Link) bool) error {
	return s.observe(ctx, OpScan, func(ctx context.Context) error { return s.Next.ScanLinks(ctx, q, fn) })
}

// UpdateLink implements app.LinkStore.
func (s *Store) UpdateLink(ctx context.Context, code string, u app.LinkUpdate) (*app.Link, error) {
	var l *app.Link
	err := s.observe(ctx, OpUpdate, func(ctx context.Context) error {
		var err error
		l, err = s.Next.UpdateLink(ctx, code, u)
		return err
	})
	return l, err
}

// ImportLinks implements app.LinkStore.
func (s *Store) ImportLinks(ctx context.Context, links []*app.Link) ([]app.ImportOutcome, error) {
	var out []app.ImportOutcome
	err := s.observe(ctx, OpImport, func(ctx context.Context) error {
		var err error
		out, err = s.Next.ImportLinks(ctx, links)
		return err
	})
	return out, err
}

// DailyVisits implements app.LinkStore.
func (s *Store) DailyVisits(ctx context.Context, code string, from, to time.Time) ([]app.DayCount, error) {
	var out []app.DayCount
	err := s.observe(ctx, OpDailyVisits, func(ctx context.Context) error {
		var err error
		out, err = s.Next.DailyVisits(ctx, code, from, to)
		return err
	})
	return out, err
}

// PruneVisits implements app.LinkStore.
func (s *Store) PruneVisits(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := s.observe(ctx, OpPruneVisits, func(ctx context.Context) error {
		var err error
		n, err = s.Next.PruneVisits(ctx, before, limit)
		return err
	})
	return n, err
}
