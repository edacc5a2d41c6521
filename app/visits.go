package app

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// VisitCounter counts redirects in memory and writes them to the store in
// batches, so a redirect never waits for a database write.
type VisitCounter struct {
	store   LinkStore
	onFlush func(visits int, err error)
	logger  *slog.Logger

	mu     sync.Mutex
	counts map[string]int64
}

// NewVisitCounter returns a counter writing to store. onFlush, if set, is
// called after each non-empty batch (for metrics).
func NewVisitCounter(store LinkStore, logger *slog.Logger, onFlush func(visits int, err error)) *VisitCounter {
	return &VisitCounter{store: store, logger: logger, onFlush: onFlush, counts: map[string]int64{}}
}

// Add counts one visit.
func (v *VisitCounter) Add(code string) {
	v.mu.Lock()
	v.counts[code]++
	v.mu.Unlock()
}

// Pending returns the visits not yet written for code.
func (v *VisitCounter) Pending(code string) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.counts[code]
}

// Flush writes the pending counts in one batch. On failure the counts are
// put back so no visit is lost while the store is unavailable.
func (v *VisitCounter) Flush(ctx context.Context) error {
	v.mu.Lock()
	batch := v.counts
	v.counts = make(map[string]int64, len(batch))
	v.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	var total int64
	for _, n := range batch {
		total += n
	}
	err := v.store.AddVisits(ctx, batch)
	if err != nil {
		v.mu.Lock()
		for code, n := range batch {
			v.counts[code] += n
		}
		v.mu.Unlock()
	}
	if v.onFlush != nil {
		v.onFlush(int(total), err)
	}
	return err
}

// Run flushes every interval until ctx ends, then flushes once more.
func (v *VisitCounter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := v.Flush(fctx); err != nil && v.logger != nil {
				v.logger.Error("final visit flush failed", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := v.Flush(ctx); err != nil && v.logger != nil {
				v.logger.Warn("visit flush failed; counts kept for the next try", "err", err)
			}
		}
	}
}
