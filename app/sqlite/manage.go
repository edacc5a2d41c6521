package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/obsshort/shortener/app"
)

// errOldStatements: a previous release's statements (the compatibility
// test) have none for what that release could not do.
var errOldStatements = errors.New("this store's statements predate link controls (expand step 0004)")

// SetClock sets the clock that dates per-day visit counts (tests).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// dayNumber is the UTC day of t as days since the Unix epoch.
func dayNumber(t time.Time) int64 { return app.Day(t).Unix() / 86400 }

// guardedDeletedAt is the deleted_at a link is stored with: its delete
// time, or 0 for a live link the previous release must not redirect
// (disabled or protected; see expand step 0004).
func guardedDeletedAt(l *app.Link) any {
	switch {
	case l.DeletedAt != nil:
		return l.DeletedAt.UnixMilli()
	case l.DisabledAt != nil || l.PasswordHash != "":
		return int64(0)
	}
	return nil
}

// storedOrNil is t as the store keeps it: UTC milliseconds.
func storedOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := time.UnixMilli(t.UnixMilli()).UTC()
	return &v
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ScanLinks implements app.LinkStore: one bounded query on the index of
// (created_at, code), read lazily, stopped when fn says so.
func (db *DB) ScanLinks(ctx context.Context, q app.ScanQuery, fn func(*app.Link) bool) error {
	if db.q.Scan == "" {
		return errOldStatements
	}
	if q.Limit < 1 {
		return fmt.Errorf("scan links: limit %d, want at least 1", q.Limit)
	}
	afterMs, afterCode := int64(math.MaxInt64), ""
	if q.After != nil {
		afterMs, afterCode = q.After.CreatedAt.UnixMilli(), q.After.Code
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if q.CreatedFrom != nil {
		from = q.CreatedFrom.UnixMilli()
	}
	if q.CreatedTo != nil {
		to = q.CreatedTo.UnixMilli()
	}
	rows, err := db.reader.QueryContext(ctx, db.q.Scan, afterMs, afterCode, from, to, q.Limit)
	if err != nil {
		return fmt.Errorf("scan links: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLink(rows, true)
		if err != nil {
			return fmt.Errorf("scan links: %w", classify(err))
		}
		if !fn(l) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan links: %w", classify(err))
	}
	return nil
}

// UpdateLink implements app.LinkStore: read and write in one immediate
// transaction, so concurrent changes from any process apply one after the
// other.
func (db *DB) UpdateLink(ctx context.Context, code string, u app.LinkUpdate) (*app.Link, error) {
	if db.q.Update == "" {
		return nil, errOldStatements
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update link: %w", classify(err))
	}
	defer tx.Rollback()
	l, err := scanLink(tx.QueryRowContext(ctx, db.q.FindLink, code), true)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, app.Errorf(app.ENOTFOUND, "no link with code %q", code)
	case err != nil:
		return nil, fmt.Errorf("update link: read: %w", classify(err))
	case l.DeletedAt != nil:
		return nil, app.Errorf(app.EGONE, "link %s was deleted", code)
	}
	u.Apply(l)
	l.ExpiresAt, l.DisabledAt = storedOrNil(l.ExpiresAt), storedOrNil(l.DisabledAt)
	if _, err := tx.ExecContext(ctx, db.q.Update, l.URL, msOrNil(l.ExpiresAt), msOrNil(l.DisabledAt),
		nullString(l.PasswordHash), guardedDeletedAt(l), code); err != nil {
		return nil, fmt.Errorf("update link: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update link: commit: %w", classify(err))
	}
	return l, nil
}

// ImportLinks implements app.LinkStore: one immediate transaction for the
// batch; a taken code is left as it is and its URL reported.
func (db *DB) ImportLinks(ctx context.Context, links []*app.Link) ([]app.ImportOutcome, error) {
	if db.q.ImportInsert == "" {
		return nil, errOldStatements
	}
	out := make([]app.ImportOutcome, len(links))
	if len(links) == 0 {
		return out, ctx.Err()
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("import links: %w", classify(err))
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, db.q.ImportInsert)
	if err != nil {
		return nil, fmt.Errorf("import links: prepare: %w", classify(err))
	}
	defer ins.Close()
	for i, l := range links {
		res, err := ins.ExecContext(ctx, l.Code, l.URL, l.CreatedAt.UnixMilli(), msOrNil(l.ExpiresAt),
			guardedDeletedAt(l), msOrNil(l.DisabledAt), nullString(l.PasswordHash), l.Visits)
		if err != nil {
			return nil, fmt.Errorf("import link %s: %w", l.Code, classify(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("import link %s: rows affected: %w", l.Code, err)
		}
		if n == 1 {
			out[i].Created = true
			continue
		}
		if err := tx.QueryRowContext(ctx, db.q.ImportExisting, l.Code).Scan(&out[i].ExistingURL); err != nil {
			return nil, fmt.Errorf("import link %s: read the taken code: %w", l.Code, classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("import links: commit: %w", classify(err))
	}
	return out, nil
}

// DailyVisits implements app.LinkStore.
func (db *DB) DailyVisits(ctx context.Context, code string, from, to time.Time) ([]app.DayCount, error) {
	if db.q.DailyVisits == "" {
		return nil, errOldStatements
	}
	rows, err := db.reader.QueryContext(ctx, db.q.DailyVisits, code, dayNumber(from), dayNumber(to))
	if err != nil {
		return nil, fmt.Errorf("daily visits: %w", classify(err))
	}
	defer rows.Close()
	var out []app.DayCount
	for rows.Next() {
		var day, n int64
		if err := rows.Scan(&day, &n); err != nil {
			return nil, fmt.Errorf("daily visits: %w", err)
		}
		out = append(out, app.DayCount{Day: time.Unix(day*86400, 0).UTC(), Visits: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("daily visits: %w", classify(err))
	}
	return out, nil
}

// PruneVisits implements app.LinkStore.
func (db *DB) PruneVisits(ctx context.Context, before time.Time, limit int) (int64, error) {
	if db.q.PruneVisits == "" {
		return 0, errOldStatements
	}
	res, err := db.writer.ExecContext(ctx, db.q.PruneVisits, dayNumber(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune daily visits: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune daily visits: rows affected: %w", err)
	}
	return n, nil
}
