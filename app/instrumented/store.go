// Package instrumented wraps an app.LinkStore with store-operation metrics and
// child spans, so every backend is measured the same way.
package instrumented

import (
	"context"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/telemetry"
)

// Store measures each call of the wrapped store.
type Store struct {
	Next    app.LinkStore
	Metrics *telemetry.Metrics
	Tracing *telemetry.Tracing
}

var _ app.LinkStore = (*Store)(nil)

// observe times op and counts it as an error only when the store failed, not
// when it answered "not found" or "conflict".
func (s *Store) observe(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, end := s.Tracing.StartStoreSpan(ctx, op)
	start := time.Now()
	err := fn(ctx)
	var failure error
	switch app.ErrorCode(err) {
	case "", app.ENOTFOUND, app.ECONFLICT:
	default:
		failure = err
	}
	s.Metrics.StoreOp(op, time.Since(start), failure)
	end(failure)
	return err
}

// CreateLink implements app.LinkStore.
func (s *Store) CreateLink(ctx context.Context, l *app.Link) error {
	return s.observe(ctx, "create", func(ctx context.Context) error { return s.Next.CreateLink(ctx, l) })
}

// FindLink implements app.LinkStore.
func (s *Store) FindLink(ctx context.Context, code string) (*app.Link, error) {
	var l *app.Link
	err := s.observe(ctx, "get", func(ctx context.Context) error {
		var err error
		l, err = s.Next.FindLink(ctx, code)
		return err
	})
	return l, err
}

// DeleteLink implements app.LinkStore.
func (s *Store) DeleteLink(ctx context.Context, code string, at time.Time) error {
	return s.observe(ctx, "delete", func(ctx context.Context) error { return s.Next.DeleteLink(ctx, code, at) })
}

// AddVisits implements app.LinkStore.
func (s *Store) AddVisits(ctx context.Context, counts map[string]int64) error {
	return s.observe(ctx, "add_visits", func(ctx context.Context) error { return s.Next.AddVisits(ctx, counts) })
}

// Ready implements app.LinkStore.
func (s *Store) Ready(ctx context.Context) error {
	return s.observe(ctx, "ready", s.Next.Ready)
}
