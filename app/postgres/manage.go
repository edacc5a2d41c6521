package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/obsshort/shortener/app"
)

// errOldStatements: a previous release's statements (the compatibility
// test) have none for what that release could not do.
var errOldStatements = errors.New("this store's statements predate link controls (expand step 0004)")

// epoch is the deleted_at of a guarded link (see expand step 0004).
var epoch = time.Unix(0, 0).UTC()

// SetClock sets the clock that dates per-day visit counts (tests).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// guardedDeletedAt is the deleted_at a link is stored with: its delete
// time, or the epoch for a live link the previous release must not
// redirect (disabled or protected).
func guardedDeletedAt(l *app.Link) pgtype.Timestamptz {
	switch {
	case l.DeletedAt != nil:
		return pgtype.Timestamptz{Time: ms(*l.DeletedAt), Valid: true}
	case l.DisabledAt != nil || l.PasswordHash != "":
		return pgtype.Timestamptz{Time: epoch, Valid: true}
	}
	return pgtype.Timestamptz{}
}

func tsOrNull(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: ms(*t), Valid: true}
}

func textOrNull(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// Bounds of the scan when the caller gives none; within timestamptz's range.
var (
	scanMin = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	scanMax = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// ScanLinks implements app.LinkStore: one bounded query on the index of
// (created_at, code), read lazily, stopped when fn says so.
func (db *DB) ScanLinks(ctx context.Context, q app.ScanQuery, fn func(*app.Link) bool) error {
	if db.q.Scan == "" {
		return errOldStatements
	}
	if q.Limit < 1 {
		return fmt.Errorf("scan links: limit %d, want at least 1", q.Limit)
	}
	after, afterCode := scanMax, ""
	if q.After != nil {
		after, afterCode = ms(q.After.CreatedAt), q.After.Code
	}
	from, to := scanMin, scanMax
	if q.CreatedFrom != nil {
		from = ms(*q.CreatedFrom)
	}
	if q.CreatedTo != nil {
		to = ms(*q.CreatedTo)
	}
	bctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(bctx, db.q.Scan, after, afterCode, from, to, q.Limit)
	if err != nil {
		return db.fail(ctx, "scan links", err)
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLink(rows, true)
		if err != nil {
			return db.fail(ctx, "scan links", err)
		}
		if !fn(l) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return db.fail(ctx, "scan links", err)
	}
	return nil
}

// UpdateLink implements app.LinkStore: the row is locked, changed and
// written in one transaction.
func (db *DB) UpdateLink(ctx context.Context, code string, u app.LinkUpdate) (*app.Link, error) {
	if db.q.Update == "" {
		return nil, errOldStatements
	}
	bctx, cancel := db.bound(ctx)
	defer cancel()
	var l *app.Link
	err := pgx.BeginFunc(bctx, db.pool, func(tx pgx.Tx) error {
		var err error
		l, err = scanLink(tx.QueryRow(bctx, db.q.LockLink, code), true)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return app.Errorf(app.ENOTFOUND, "no link with code %q", code)
		case err != nil:
			return err
		case l.DeletedAt != nil:
			return app.Errorf(app.EGONE, "link %s was deleted", code)
		}
		u.Apply(l)
		_, err = tx.Exec(bctx, db.q.Update, l.URL, tsOrNull(l.ExpiresAt), tsOrNull(l.DisabledAt),
			textOrNull(l.PasswordHash), guardedDeletedAt(l), code)
		return err
	})
	if c := app.ErrorCode(err); c == app.ENOTFOUND || c == app.EGONE {
		return nil, err
	}
	if err != nil {
		return nil, db.fail(ctx, "update link", err)
	}
	l.ExpiresAt, l.DisabledAt = utcOrNil(l.ExpiresAt), utcOrNil(l.DisabledAt)
	if l.ExpiresAt != nil {
		*l.ExpiresAt = ms(*l.ExpiresAt)
	}
	if l.DisabledAt != nil {
		*l.DisabledAt = ms(*l.DisabledAt)
	}
	return l, nil
}

// ImportLinks implements app.LinkStore: one INSERT of the whole batch
// (arrays unnested into rows) that skips taken codes, then one read of
// the URLs those codes hold.
func (db *DB) ImportLinks(ctx context.Context, links []*app.Link) ([]app.ImportOutcome, error) {
	if db.q.ImportInsert == "" {
		return nil, errOldStatements
	}
	out := make([]app.ImportOutcome, len(links))
	if len(links) == 0 {
		return out, ctx.Err()
	}
	args := insertArgs(links)
	codes := args[0]
	bctx, cancel := db.bound(ctx)
	defer cancel()
	inserted := map[string]bool{}
	existing := map[string]string{}
	err := pgx.BeginFunc(bctx, db.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(bctx, db.q.ImportInsert, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return err
			}
			inserted[c] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(inserted) == len(links) {
			return nil
		}
		rows, err = tx.Query(bctx, db.q.ImportExisting, codes)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c, u string
			if err := rows.Scan(&c, &u); err != nil {
				return err
			}
			existing[c] = u
		}
		return rows.Err()
	})
	if err != nil {
		return nil, db.fail(ctx, "import links", err)
	}
	for i, l := range links {
		if inserted[l.Code] {
			// A code twice in one batch: the first row made it, the
			// others find it taken.
			out[i].Created = true
			delete(inserted, l.Code)
			continue
		}
		out[i].ExistingURL = existing[l.Code]
	}
	return out, nil
}

// DailyVisits implements app.LinkStore.
func (db *DB) DailyVisits(ctx context.Context, code string, from, to time.Time) ([]app.DayCount, error) {
	if db.q.DailyVisits == "" {
		return nil, errOldStatements
	}
	bctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(bctx, db.q.DailyVisits, code, app.Day(from), app.Day(to))
	if err != nil {
		return nil, db.fail(ctx, "daily visits", err)
	}
	defer rows.Close()
	var out []app.DayCount
	for rows.Next() {
		var (
			day time.Time
			n   int64
		)
		if err := rows.Scan(&day, &n); err != nil {
			return nil, db.fail(ctx, "daily visits", err)
		}
		out = append(out, app.DayCount{Day: app.Day(day), Visits: n})
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "daily visits", err)
	}
	return out, nil
}

// PruneVisits implements app.LinkStore.
func (db *DB) PruneVisits(ctx context.Context, before time.Time, limit int) (int64, error) {
	if db.q.PruneVisits == "" {
		return 0, errOldStatements
	}
	bctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(bctx, db.q.PruneVisits, app.Day(before), limit)
	if err != nil {
		return 0, db.fail(ctx, "prune daily visits", err)
	}
	return tag.RowsAffected(), nil
}
