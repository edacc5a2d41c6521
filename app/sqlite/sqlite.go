// Package sqlite implements app.LinkStore on a SQLite file through
// modernc.org/sqlite (pure Go, no cgo).
//
// One writer connection serialises writes inside the process (SQLite allows
// one writer anyway) and a pool of read-only connections serves lookups. WAL
// mode lets readers run beside the writer, and a busy timeout with BEGIN
// IMMEDIATE lets two processes (stable and canary) share the file without
// "database is locked" errors reaching users.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/obsshort/shortener/app"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open database with its writer and reader pools.
type DB struct {
	path   string
	writer *sql.DB
	reader *sql.DB

	// Prepared once: the hot statements skip SQL parsing on every call.
	findStmt   *sql.Stmt
	insertStmt *sql.Stmt
	deleteStmt *sql.Stmt

	// migrations are the versions this build knows, listed once at Open;
	// Ready compares the applied count against them.
	migrations []string
}

// BusyTimeout is how long a connection waits for another writer (maybe in
// another process) before giving up.
const BusyTimeout = 10 * time.Second

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)") // durable across process crashes in WAL mode
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate") // take the write lock at BEGIN: no upgrade deadlocks
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database file and applies migrations.
func Open(ctx context.Context, path string, readers int) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open store %s: create folder: %w", path, err)
		}
	}
	if readers < 1 {
		readers = 4
	}
	writer, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	db := &DB{path: path, writer: writer}
	if err := db.migrate(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open store %s: readers: %w", path, err)
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	db.reader = reader
	prepare := func(pool *sql.DB, dst **sql.Stmt, query string) {
		if err != nil {
			return
		}
		*dst, err = pool.PrepareContext(ctx, query)
	}
	prepare(reader, &db.findStmt, `SELECT code, url, created_at, expires_at, deleted_at, visits FROM links WHERE code = ?`)
	prepare(writer, &db.insertStmt, `INSERT INTO links (code, url, created_at, expires_at) VALUES (?, ?, ?, ?)`)
	prepare(writer, &db.deleteStmt, `UPDATE links SET deleted_at = ? WHERE code = ? AND deleted_at IS NULL`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: prepare: %w", path, err)
	}
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{db.findStmt, db.insertStmt, db.deleteStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	errs = append(errs, db.writer.Close())
	return errors.Join(errs...)
}

// migrate applies the embedded migrations not yet recorded, in order, each in
// its own immediate transaction so two processes starting together agree.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := listMigrations(migrationFS)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := db.applyMigration(ctx, name); err != nil {
			return err
		}
	}
	db.migrations = names
	return nil
}

// listMigrations returns the paths of the migration files in fsys, in the
// order they apply. An empty list is an error: every build has migrations,
// and Ready would otherwise call any schema current.
func listMigrations(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, path.Join("migrations", e.Name()))
		}
	}
	if len(names) == 0 {
		return nil, errors.New("list migrations: no .sql file in migrations/")
	}
	sort.Strings(names)
	return names, nil
}

func (db *DB) applyMigration(ctx context.Context, name string) error {
	version := strings.TrimSuffix(filepath.Base(name), ".sql")
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", version, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: check: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return fmt.Errorf("migration %s: read: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s: apply: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("migration %s: record: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", version, err)
	}
	return nil
}

// Migrations returns the versions recorded as applied.
func (db *DB) Migrations(ctx context.Context) ([]string, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("list applied migrations: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// classify turns driver errors into domain errors: constraint violations
// become conflicts, a read-only file or a full disk becomes "unavailable".
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT:
			return app.Errorf(app.ECONFLICT, "code already taken")
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("%w (%v)", app.Errorf(app.EUNAVAILABLE, "the database is read-only; links cannot be created right now, try again later"), err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w (%v)", app.Errorf(app.EUNAVAILABLE, "the disk is full; links cannot be created right now, try again later"), err)
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("%w (%v)", app.Errorf(app.EUNAVAILABLE, "the database cannot be written; links cannot be created right now, try again later"), err)
		}
	}
	return err
}

func msOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func timeOrNil(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMilli(v.Int64).UTC()
	return &t
}

// CreateLink inserts a link; a taken code gives ECONFLICT.
func (db *DB) CreateLink(ctx context.Context, l *app.Link) error {
	_, err := db.insertStmt.ExecContext(ctx, l.Code, l.URL, l.CreatedAt.UnixMilli(), msOrNil(l.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert link: %w", classify(err))
	}
	return nil
}

// FindLink returns the link with code, whatever its state.
func (db *DB) FindLink(ctx context.Context, code string) (*app.Link, error) {
	var (
		l                  app.Link
		created            int64
		expires, deletedAt sql.NullInt64
	)
	err := db.findStmt.QueryRowContext(ctx, code).Scan(&l.Code, &l.URL, &created, &expires, &deletedAt, &l.Visits)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no link with code %q", code)
	}
	if err != nil {
		return nil, fmt.Errorf("find link: %w", classify(err))
	}
	l.CreatedAt = time.UnixMilli(created).UTC()
	l.ExpiresAt = timeOrNil(expires)
	l.DeletedAt = timeOrNil(deletedAt)
	return &l, nil
}

// ChangeSeq implements app.ChangeSource: the counter that the triggers of
// migration 0003 bump on every delete or change of a stored link, by any
// process on this file.
func (db *DB) ChangeSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.reader.QueryRowContext(ctx, `SELECT seq FROM link_changes WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read link change counter: %w", classify(err))
	}
	return seq, nil
}

// DeleteLink marks a live link deleted.
func (db *DB) DeleteLink(ctx context.Context, code string, at time.Time) error {
	res, err := db.deleteStmt.ExecContext(ctx, at.UnixMilli(), code)
	if err != nil {
		return fmt.Errorf("delete link: %w", classify(err))
	}
	return deletedOne(res, code)
}

// deletedOne turns the result of the delete statement into "deleted" or
// "no live link". When the driver cannot say how many rows changed, that is
// an internal error, not a claim that the link does not exist.
func deletedOne(res sql.Result, code string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete link %q: rows affected: %w", code, err)
	}
	if n == 0 {
		return app.Errorf(app.ENOTFOUND, "no live link with code %q", code)
	}
	return nil
}

// AddVisits adds visit counts in one transaction.
func (db *DB) AddVisits(ctx context.Context, counts map[string]int64) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add visits: begin: %w", classify(err))
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE links SET visits = visits + ? WHERE code = ?`)
	if err != nil {
		return fmt.Errorf("add visits: prepare: %w", classify(err))
	}
	defer stmt.Close()
	for code, n := range counts {
		if _, err := stmt.ExecContext(ctx, n, code); err != nil {
			return fmt.Errorf("add visits: %w", classify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add visits: commit: %w", classify(err))
	}
	return nil
}

// Ready checks that the database answers reads and that the schema is
// current. It only reads: write health is ProbeWrite's job, and a database
// that cannot take writes still serves redirects.
func (db *DB) Ready(ctx context.Context) error {
	var n int
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("database not readable: %w", err)
	}
	if n < len(db.migrations) {
		return fmt.Errorf("database schema not current: %d of %d migrations applied", n, len(db.migrations))
	}
	return nil
}

// ProbeWrite implements app.WriteProber with a real write: a statement that
// changes nothing commits without touching the file, so it would not notice
// a full disk or a file that refuses writes. One small row is rewritten,
// which appends one page to the WAL.
func (db *DB) ProbeWrite(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx,
		`INSERT INTO settings (name, value) VALUES ('write_probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		err = classify(err)
		if app.ErrorCode(err) == app.EUNAVAILABLE {
			// Say why in words; the driver detail is not for the admin page.
			return fmt.Errorf("database not writable: %s", app.ErrorMessage(err))
		}
		return fmt.Errorf("database not writable: %w", err)
	}
	return nil
}

// Secret returns the named random secret shared by every process using this
// database, creating it (size bytes) on first use.
func (db *DB) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if _, err := db.writer.ExecContext(ctx, `INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)`, name, fresh); err != nil {
		return nil, fmt.Errorf("secret %s: store: %w", name, classify(err))
	}
	var v []byte
	if err := db.writer.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("secret %s: read: %w", name, err)
	}
	return v, nil
}

var (
	_ app.LinkStore   = (*DB)(nil)
	_ app.WriteProber = (*DB)(nil)
)
