package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Bounds of the per-day visit history.
const (
	// DefaultVisitDays is how many days DailyVisits returns by default.
	DefaultVisitDays = 30
	// MaxVisitDays is the longest range one call returns: one row a day,
	// so an answer stays small.
	MaxVisitDays = 366
	// pruneBatch is how many per-day rows one delete removes; the writer
	// is released between batches so redirects' visit flushes and creates
	// are not held up.
	pruneBatch = 5000
)

// DailyVisits returns the visits of a link per UTC day in [from, to), one
// entry per day (days without visits count 0), with the visits of today
// not yet written included. Unknown codes give ENOTFOUND.
func (s *Service) DailyVisits(ctx context.Context, code string, from, to time.Time) ([]DayCount, error) {
	from, to = Day(from), Day(to)
	days := int(to.Sub(from).Hours() / 24)
	switch {
	case days < 1:
		return nil, Errorf(EINVALID, "from must be a day before to")
	case days > MaxVisitDays:
		return nil, Errorf(EINVALID, "the range spans %d days; ask for at most %d at once", days, MaxVisitDays)
	}
	if _, err := s.Get(ctx, code); err != nil {
		return nil, err
	}
	stored, err := s.Store.DailyVisits(ctx, code, from, to)
	if err != nil {
		return nil, fmt.Errorf("daily visits: %w", err)
	}
	out := make([]DayCount, days)
	for i := range out {
		out[i].Day = from.AddDate(0, 0, i)
	}
	for _, dc := range stored {
		if i := int(Day(dc.Day).Sub(from).Hours() / 24); i >= 0 && i < days {
			out[i].Visits += dc.Visits
		}
	}
	// Visits not yet flushed are written with the day of their flush:
	// count them today.
	if s.Visits != nil {
		if i := int(Day(s.now()).Sub(from).Hours() / 24); i >= 0 && i < days {
			out[i].Visits += s.Visits.Pending(code)
		}
	}
	return out, nil
}

// PruneVisits removes per-day counts older than keepDays days (today
// included), in batches, and returns how many rows it removed.
func (s *Service) PruneVisits(ctx context.Context, keepDays int) (int64, error) {
	before := Day(s.now()).AddDate(0, 0, -(keepDays - 1))
	var total int64
	for {
		n, err := s.Store.PruneVisits(ctx, before, pruneBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune daily visits before %s: %w", before.Format(time.DateOnly), err)
		}
		if n < pruneBatch {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// RunVisitRetention prunes per-day counts older than keepDays at once and
// then every interval until ctx ends.
func (s *Service) RunVisitRetention(ctx context.Context, keepDays int, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.PruneVisits(ctx, keepDays)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("pruning old daily visit counts failed; will retry", "err", err)
		case n > 0:
			logger.Info("pruned old daily visit counts", "rows", n, "keep_days", keepDays)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
