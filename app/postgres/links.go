package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/migration"
)

// bound gives a call its deadline: the caller's, or OpTimeout from now if
// that is sooner. pgxpool waits for a free connection until the context
// ends, so this is also the longest a caller queues on an exhausted pool.
func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.opt.OpTimeout)
}

// fail classifies err from a call made with the bounded context: the
// caller's own cancellation passes through unchanged; the store's deadline
// (a slow server, an exhausted pool) and connection failures become
// "unavailable".
func (db *DB) fail(caller context.Context, what string, err error) error {
	if caller.Err() != nil {
		return fmt.Errorf("%s: %w", what, caller.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w (%v)", what, app.Errorf(app.EUNAVAILABLE,
			"the database did not answer within %s; try again later", db.opt.OpTimeout), err)
	}
	return fmt.Errorf("%s: %w", what, classify(err))
}

// classify turns driver errors into domain errors: a unique violation is a
// conflict; a server that is down, restarting, refusing connections, out of
// disk or read-only is "unavailable".
func classify(err error) error {
	if err == nil {
		return nil
	}
	unavailable := func(msg string) error {
		return fmt.Errorf("%w (%v)", app.Errorf(app.EUNAVAILABLE, "%s", msg), err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return app.Errorf(app.ECONFLICT, "code already taken")
		case pe.Code == "53100": // disk_full
			return unavailable("the database disk is full; links cannot be created right now, try again later")
		case pe.Code == "25006": // read_only_sql_transaction (a standby, or default_transaction_read_only)
			return unavailable("the database is read-only; links cannot be created right now, try again later")
		case pe.Code[:2] == "08", pe.Code[:2] == "57", pe.Code[:2] == "53": // connection, operator intervention (shutdown, restart), resources
			return unavailable("the database is unreachable or restarting; try again in a moment")
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isClosed(err) {
		return unavailable("the database is unreachable or restarting; try again in a moment")
	}
	return err
}

// isClosed: a pooled connection the server closed under us.
func isClosed(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection reset", "broken pipe", "unexpected EOF", "closed pool"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func msOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateLink inserts a link; a taken code gives ECONFLICT. Concurrent
// creates share INSERT statements (see inserter).
func (db *DB) CreateLink(ctx context.Context, l *app.Link) error {
	bctx, cancel := db.bound(ctx)
	defer cancel()
	var err error
	if db.ins != nil {
		err = db.ins.insert(bctx, l)
	} else {
		err = db.insertOne(bctx, l)
	}
	if err != nil {
		return db.fail(ctx, "insert link", err)
	}
	return nil
}

// FindLink returns the link with code, whatever its state.
func (db *DB) FindLink(ctx context.Context, code string) (*app.Link, error) {
	bctx, cancel := db.bound(ctx)
	defer cancel()
	find, all := db.q.FindLink, true
	if find == "" {
		find, all = db.q.Find, false
	}
	l, err := scanLink(db.pool.QueryRow(bctx, find, code), all)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no link with code %q", code)
	}
	if err != nil {
		return nil, db.fail(ctx, "find link", err)
	}
	return l, nil
}

// scanLink reads a row of linkColumns (all) or of the first release's six
// columns.
func scanLink(row pgx.Row, all bool) (*app.Link, error) {
	var (
		l    app.Link
		hash *string
	)
	dest := []any{&l.Code, &l.URL, &l.CreatedAt, &l.ExpiresAt, &l.DeletedAt, &l.Visits}
	if all {
		dest = append(dest, &l.DisabledAt, &hash)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	l.CreatedAt = l.CreatedAt.UTC()
	l.ExpiresAt = utcOrNil(l.ExpiresAt)
	l.DeletedAt = utcOrNil(l.DeletedAt)
	l.DisabledAt = utcOrNil(l.DisabledAt)
	if hash != nil {
		l.PasswordHash = *hash
	}
	return &l, nil
}

// DeleteLink marks a live link deleted.
func (db *DB) DeleteLink(ctx context.Context, code string, at time.Time) error {
	bctx, cancel := db.bound(ctx)
	defer cancel()
	tag, err := db.pool.Exec(bctx, db.q.Delete, ms(at), code)
	if err != nil {
		return db.fail(ctx, "delete link", err)
	}
	if tag.RowsAffected() == 0 {
		return app.Errorf(app.ENOTFOUND, "no live link with code %q", code)
	}
	return nil
}

// AddVisits adds visit counts in one statement (two arrays unnested into
// rows), whatever the batch size. Codes that do not exist match nothing.
// Rows are locked in code order, so two replicas flushing overlapping
// batches do not deadlock.
func (db *DB) AddVisits(ctx context.Context, counts map[string]int64) error {
	if len(counts) == 0 {
		return ctx.Err()
	}
	codes := make([]string, 0, len(counts))
	for c := range counts {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	ns := make([]int64, len(codes))
	for i, c := range codes {
		ns[i] = counts[c]
	}
	bctx, cancel := db.bound(ctx)
	defer cancel()
	var err error
	if db.q.AddVisitsDaily != "" {
		_, err = db.pool.Exec(bctx, db.q.AddVisitsDaily, codes, ns, app.Day(db.now()))
	} else {
		_, err = db.pool.Exec(bctx, db.q.AddVisits, codes, ns)
	}
	if err != nil {
		return db.fail(ctx, "add visits", err)
	}
	return nil
}

// ListTargets implements app.TargetSource: up to limit links live at now
// with codes after after, in code order; a protected link's target says
// that it has a password (the hash stays in the store).
func (db *DB) ListTargets(ctx context.Context, after string, limit int, now time.Time) ([]app.CodeTarget, error) {
	bctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(bctx, db.q.Targets, after, ms(now), limit)
	if err != nil {
		return nil, db.fail(ctx, "list links", err)
	}
	defer rows.Close()
	out := make([]app.CodeTarget, 0, limit)
	for rows.Next() {
		var (
			code, url string
			expires   *time.Time
			protected bool
		)
		if err := rows.Scan(&code, &url, &expires, &protected); err != nil {
			return nil, db.fail(ctx, "list links", err)
		}
		t := app.TargetOf(&app.Link{URL: url, ExpiresAt: expires})
		if protected {
			t.Flags |= app.TargetProtected
		}
		out = append(out, app.CodeTarget{Code: code, Target: t})
	}
	if err := rows.Err(); err != nil {
		return nil, db.fail(ctx, "list links", err)
	}
	return out, nil
}

// ChangeSeq implements app.ChangeSource: the counter the triggers of
// expand step 0003 bump on every delete or change of a link.
func (db *DB) ChangeSeq(ctx context.Context) (int64, error) {
	bctx, cancel := db.bound(ctx)
	defer cancel()
	var seq int64
	if err := db.pool.QueryRow(bctx, db.q.ChangeSeq).Scan(&seq); err != nil {
		return 0, db.fail(ctx, "read link change counter", err)
	}
	return seq, nil
}

// Ready checks that the database answers reads and that the schema is
// current for this build. A server that cannot be reached gives an
// EUNAVAILABLE error, which the service's health keeps apart from "not
// ready": redirects still come from the cache (app.StoreHealthOptions).
func (db *DB) Ready(ctx context.Context) error {
	bctx, cancel := db.bound(ctx)
	defer cancel()
	// The caller is a health check with a deadline of its own: a server
	// (or a pool) too busy to answer within it is not reachable now, not
	// a failed check of the schema.
	slow := func(err error) error {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w (%v)", app.Errorf(app.EUNAVAILABLE, "the database did not answer in time"), err)
		}
		return err
	}
	conn, err := db.pool.Acquire(bctx)
	if err != nil {
		return fmt.Errorf("database not readable: %w", slow(db.fail(ctx, "connect", err)))
	}
	defer conn.Release()
	applied, err := db.appliedOn(bctx, conn)
	if err != nil {
		return fmt.Errorf("database not readable: %w", slow(err))
	}
	return migration.Verify(db.steps, applied)
}

// ProbeWrite implements app.WriteProber: one small row is rewritten.
func (db *DB) ProbeWrite(ctx context.Context) error {
	bctx, cancel := db.bound(ctx)
	defer cancel()
	if _, err := db.pool.Exec(bctx, db.q.Probe, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return app.NotWritable(db.fail(ctx, "write probe", err))
	}
	return nil
}

// Secret returns the named random secret shared by every replica using this
// database, creating it (size bytes) on first use.
func (db *DB) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	bctx, cancel := db.bound(ctx)
	defer cancel()
	if _, err := db.pool.Exec(bctx, db.q.SecretPut, name, fresh); err != nil {
		return nil, fmt.Errorf("secret %s: store: %w", name, db.fail(ctx, "store", err))
	}
	var v []byte
	if err := db.pool.QueryRow(bctx, db.q.SecretGet, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("secret %s: read: %w", name, db.fail(ctx, "read", err))
	}
	return v, nil
}

var (
	_ app.TargetSource = (*DB)(nil)
	_ app.LinkStore    = (*DB)(nil)
	_ app.WriteProber  = (*DB)(nil)
	_ app.ChangeSource = (*DB)(nil)
)
