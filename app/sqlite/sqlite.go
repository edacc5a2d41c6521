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
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/migration"
)

//go:embed migrations
var migrationFS embed.FS

// queries are every statement the store runs. They are data so that the
// compatibility test can run the previous release's statements (kept in
// testdata/released.json) against the schema after this release's expand
// steps: what the previous release needs from the schema is exactly what
// these statements touch.
type queries struct {
	Bootstrap string `json:"bootstrap"` // creates the migrations table
	Applied   string `json:"applied"`   // version, kind of applied steps
	Record    string `json:"record"`    // marks a step applied
	// Find reads the six columns of the first releases; FindLink, when
	// set, reads every column and is used instead (a previous release's
	// snapshot has only Find). The same holds for the other pairs below:
	// a statement this build added is empty in an earlier snapshot, and
	// the store then does what that release did.
	Find      string `json:"find,omitempty"`
	FindLink  string `json:"find_link,omitempty"`
	Insert    string `json:"insert"`
	Delete    string `json:"delete"`
	AddVisits string `json:"add_visits"` // one statement per batch: a JSON object code -> count
	ChangeSeq string `json:"change_seq"`
	Targets   string `json:"list_targets"` // live links in code order, to fill the redirect cache
	Probe     string `json:"write_probe"`
	SecretPut string `json:"secret_put"`
	SecretGet string `json:"secret_get"`

	// Added with expand step 0004 (link controls and daily visits).
	InsertProtected string `json:"insert_protected,omitempty"`
	AddDailyVisits  string `json:"add_daily_visits,omitempty"` // same transaction as AddVisits
	Scan            string `json:"scan,omitempty"`
	Update          string `json:"update,omitempty"`
	ImportInsert    string `json:"import_insert,omitempty"`
	ImportExisting  string `json:"import_existing,omitempty"`
	DailyVisits     string `json:"daily_visits,omitempty"`
	PruneVisits     string `json:"prune_visits,omitempty"`
}

// current are this build's statements.
var current = queries{
	Bootstrap: `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL, kind TEXT NOT NULL DEFAULT 'expand')`,
	Applied:   `SELECT version, kind FROM schema_migrations`,
	Record:    `INSERT INTO schema_migrations (version, applied_at, kind) VALUES (?, ?, ?)`,
	FindLink:  `SELECT ` + linkColumns + ` FROM links WHERE code = ?`,
	Insert:    `INSERT INTO links (code, url, created_at, expires_at) VALUES (?, ?, ?, ?)`,
	Delete:    `UPDATE links SET deleted_at = ? WHERE code = ? AND (deleted_at IS NULL OR deleted_at = 0)`,
	AddVisits: `UPDATE links SET visits = visits + j.value FROM json_each(?) AS j WHERE links.code = j.key`,
	ChangeSeq: `SELECT seq FROM link_changes WHERE id = 1`,
	// Live links only: not deleted (a guard's 0 is not a delete), not
	// disabled, not expired; whether a password exists, never its hash.
	Targets: `SELECT code, url, expires_at, coalesce(password_hash, '') <> '' FROM links
		WHERE code > ? AND (deleted_at IS NULL OR deleted_at = 0) AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
		ORDER BY code LIMIT ?`,
	Probe:     `INSERT INTO settings (name, value) VALUES ('write_probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
	SecretPut: `INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)`,
	SecretGet: `SELECT value FROM settings WHERE name = ?`,

	InsertProtected: `INSERT INTO links (code, url, created_at, expires_at, password_hash, deleted_at) VALUES (?, ?, ?, ?, ?, 0)`,
	AddDailyVisits: `INSERT INTO link_visits_daily (code, day, visits)
		SELECT j.key, ?, j.value FROM json_each(?) AS j WHERE EXISTS (SELECT 1 FROM links WHERE links.code = j.key)
		ON CONFLICT (code, day) DO UPDATE SET visits = visits + excluded.visits`,
	Scan: `SELECT ` + linkColumns + ` FROM links
		WHERE (created_at, code) < (?, ?) AND created_at >= ? AND created_at < ?
		ORDER BY created_at DESC, code DESC LIMIT ?`,
	Update: `UPDATE links SET url = ?, expires_at = ?, disabled_at = ?, password_hash = ?, deleted_at = ? WHERE code = ?`,
	ImportInsert: `INSERT INTO links (code, url, created_at, expires_at, deleted_at, disabled_at, password_hash, visits)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING`,
	ImportExisting: `SELECT url FROM links WHERE code = ?`,
	DailyVisits:    `SELECT day, visits FROM link_visits_daily WHERE code = ? AND day >= ? AND day < ? ORDER BY day`,
	PruneVisits: `DELETE FROM link_visits_daily WHERE (code, day) IN
		(SELECT code, day FROM link_visits_daily WHERE day < ? LIMIT ?)`,
}

// linkColumns are what FindLink and Scan read, in scanLink's order. A
// guarded link's deleted_at of 0 reads as not deleted (expand step 0004).
const linkColumns = `code, url, created_at, expires_at, NULLIF(deleted_at, 0), visits, disabled_at, password_hash`

// DB is an open database with its writer and reader pools.
type DB struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	q      queries

	// Prepared once: the hot statements skip SQL parsing on every call.
	findStmt   *sql.Stmt
	insertStmt *sql.Stmt
	deleteStmt *sql.Stmt
	// findAll: findStmt reads every column (FindLink), not the first
	// release's six (a previous release's statements, in the
	// compatibility test).
	findAll bool

	// now is the clock of the per-day visit counts (SetClock).
	now func() time.Time

	// steps are the migrations this build knows, loaded once at Open;
	// Ready checks that every expand step of them is applied.
	steps []migration.Step
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

// Steps returns the migrations embedded in this build, in order.
func Steps() ([]migration.Step, error) { return migration.Load(migrationFS, "migrations") }

// Open opens (creating if needed) the database file and applies the expand
// steps not yet applied. Contract steps run only through MigrateContract.
func Open(ctx context.Context, path string, readers int) (*DB, error) {
	steps, err := Steps()
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return open(ctx, path, readers, current, steps)
}

// open opens the store with the given statements and migrations: this
// build's, or a previous release's in the compatibility test.
func open(ctx context.Context, path string, readers int, q queries, steps []migration.Step) (*DB, error) {
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
	db := &DB{path: path, writer: writer, q: q, steps: steps, now: time.Now}
	if _, err := db.migrate(ctx, false); err != nil {
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
	find := q.FindLink
	db.findAll = find != ""
	if !db.findAll {
		find = q.Find
	}
	prepare(reader, &db.findStmt, find)
	prepare(writer, &db.insertStmt, q.Insert)
	prepare(writer, &db.deleteStmt, q.Delete)
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

// MigrateContract applies the contract steps not yet applied (and any
// expand step still missing) and returns the versions it applied. Run it
// only once no process of the previous release uses the database.
func (db *DB) MigrateContract(ctx context.Context) ([]string, error) {
	return db.migrate(ctx, true)
}

// migrate applies the pending steps in order, each in its own immediate
// transaction so two processes starting together agree, and returns the
// versions it applied.
func (db *DB) migrate(ctx context.Context, contract bool) ([]string, error) {
	if _, err := db.writer.ExecContext(ctx, db.q.Bootstrap); err != nil {
		return nil, fmt.Errorf("create migrations table: %w", err)
	}
	if err := db.addKindColumn(ctx); err != nil {
		return nil, err
	}
	var done []string
	for _, s := range db.steps {
		if s.Kind == migration.Contract && !contract {
			continue
		}
		applied, err := db.applyStep(ctx, s)
		if err != nil {
			return done, err
		}
		if applied {
			done = append(done, s.Version)
		}
	}
	return done, nil
}

// addKindColumn adds schema_migrations.kind to a database made before
// steps had kinds (every step then was an expand step). It has a default,
// so a release that records only version and time keeps working.
func (db *DB) addKindColumn(ctx context.Context) error {
	var n int
	if err := db.writer.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('schema_migrations') WHERE name = 'kind'`).Scan(&n); err != nil {
		return fmt.Errorf("inspect migrations table: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := db.writer.ExecContext(ctx, `ALTER TABLE schema_migrations ADD COLUMN kind TEXT NOT NULL DEFAULT 'expand'`); err != nil && !strings.Contains(err.Error(), "duplicate column") {
		return fmt.Errorf("add kind to migrations table: %w", err)
	}
	return nil
}

func (db *DB) applyStep(ctx context.Context, s migration.Step) (bool, error) {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", s.Version, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, s.Version).Scan(&n); err != nil {
		return false, fmt.Errorf("migration %s: check: %w", s.Version, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, s.SQL); err != nil {
		return false, fmt.Errorf("migration %s (%s): apply: %w", s.Version, s.Kind, err)
	}
	if _, err := tx.ExecContext(ctx, db.q.Record, s.Version, time.Now().UnixMilli(), string(s.Kind)); err != nil {
		return false, fmt.Errorf("migration %s: record: %w", s.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", s.Version, err)
	}
	return true, nil
}

// Migrations returns the versions recorded as applied, in order.
func (db *DB) Migrations(ctx context.Context) ([]string, error) {
	applied, err := db.applied(ctx)
	if err != nil {
		return nil, err
	}
	return migration.Versions(applied), nil
}

// applied returns the recorded versions with their kinds.
func (db *DB) applied(ctx context.Context) (map[string]migration.Kind, error) {
	rows, err := db.reader.QueryContext(ctx, db.q.Applied)
	if err != nil {
		return nil, fmt.Errorf("list applied migrations: %w", err)
	}
	defer rows.Close()
	out := map[string]migration.Kind{}
	for rows.Next() {
		var v, k string
		if err := rows.Scan(&v, &k); err != nil {
			return nil, fmt.Errorf("list applied migrations: %w", err)
		}
		out[v] = migration.Kind(k)
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
	var err error
	if l.PasswordHash != "" {
		if db.q.InsertProtected == "" {
			return errors.New("insert link: this store's statements cannot protect a link")
		}
		_, err = db.writer.ExecContext(ctx, db.q.InsertProtected, l.Code, l.URL, l.CreatedAt.UnixMilli(), msOrNil(l.ExpiresAt), l.PasswordHash)
	} else {
		_, err = db.insertStmt.ExecContext(ctx, l.Code, l.URL, l.CreatedAt.UnixMilli(), msOrNil(l.ExpiresAt))
	}
	if err != nil {
		return fmt.Errorf("insert link: %w", classify(err))
	}
	return nil
}

// FindLink returns the link with code, whatever its state.
func (db *DB) FindLink(ctx context.Context, code string) (*app.Link, error) {
	l, err := scanLink(db.findStmt.QueryRowContext(ctx, code), db.findAll)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no link with code %q", code)
	}
	if err != nil {
		return nil, fmt.Errorf("find link: %w", classify(err))
	}
	return l, nil
}

// scanLink reads a row of linkColumns (all) or of the first release's six
// columns.
func scanLink(row interface{ Scan(...any) error }, all bool) (*app.Link, error) {
	var (
		l                            app.Link
		created                      int64
		expires, deletedAt, disabled sql.NullInt64
		hash                         sql.NullString
	)
	dest := []any{&l.Code, &l.URL, &created, &expires, &deletedAt, &l.Visits}
	if all {
		dest = append(dest, &disabled, &hash)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	l.CreatedAt = time.UnixMilli(created).UTC()
	l.ExpiresAt = timeOrNil(expires)
	l.DeletedAt = timeOrNil(deletedAt)
	l.DisabledAt = timeOrNil(disabled)
	l.PasswordHash = hash.String
	return &l, nil
}

// ChangeSeq implements app.ChangeSource: the counter that the triggers of
// expand step 0003 bump on every delete or change of a stored link, by any
// process on this file.
func (db *DB) ChangeSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.reader.QueryRowContext(ctx, db.q.ChangeSeq).Scan(&seq); err != nil {
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

// AddVisits adds visit counts in one transaction, however many links: the
// batch goes in as one JSON object (code -> count) that json_each turns
// into rows, once for the links' totals and once for today's counts
// (link_visits_daily), each one statement. Codes that do not exist match
// nothing. The codes are in order, so the updates walk the tables' pages
// in order.
func (db *DB) AddVisits(ctx context.Context, counts map[string]int64) error {
	if len(counts) == 0 {
		return ctx.Err()
	}
	batch := visitsJSON(counts)
	if db.q.AddDailyVisits == "" {
		if _, err := db.writer.ExecContext(ctx, db.q.AddVisits, batch); err != nil {
			return fmt.Errorf("add visits: %w", classify(err))
		}
		return nil
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add visits: %w", classify(err))
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, db.q.AddVisits, batch); err != nil {
		return fmt.Errorf("add visits: %w", classify(err))
	}
	if _, err := tx.ExecContext(ctx, db.q.AddDailyVisits, dayNumber(db.now()), batch); err != nil {
		return fmt.Errorf("add daily visits: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add visits: commit: %w", classify(err))
	}
	return nil
}

// visitsJSON encodes counts as a JSON object with its keys sorted, as
// encoding/json would, in a fraction of the time (a flush can hold
// hundreds of thousands of codes).
func visitsJSON(counts map[string]int64) string {
	codes := make([]string, 0, len(counts))
	size := 2
	for c := range counts {
		codes = append(codes, c)
		size += len(c) + 24
	}
	slices.Sort(codes)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, c := range codes {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c)
		b = append(b, ':')
		b = strconv.AppendInt(b, counts[c], 10)
	}
	b = append(b, '}')
	return string(b)
}

// appendJSONString appends s as a JSON string; codes are plain ASCII, and
// anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ListTargets implements app.TargetSource: up to limit links live at now
// with codes after after, in code order; a protected link's target says
// that it has a password (the hash stays in the store).
func (db *DB) ListTargets(ctx context.Context, after string, limit int, now time.Time) ([]app.CodeTarget, error) {
	rows, err := db.reader.QueryContext(ctx, db.q.Targets, after, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", classify(err))
	}
	defer rows.Close()
	out := make([]app.CodeTarget, 0, limit)
	for rows.Next() {
		var (
			code, url string
			expires   sql.NullInt64
			protected bool
		)
		if err := rows.Scan(&code, &url, &expires, &protected); err != nil {
			return nil, fmt.Errorf("list links: %w", classify(err))
		}
		t := app.TargetOf(&app.Link{URL: url, ExpiresAt: timeOrNil(expires)})
		if protected {
			t.Flags |= app.TargetProtected
		}
		out = append(out, app.CodeTarget{Code: code, Target: t})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list links: %w", classify(err))
	}
	return out, nil
}

// Ready checks that the database answers reads and that the schema is
// current. It only reads: write health is ProbeWrite's job, and a database
// that cannot take writes still serves redirects.
func (db *DB) Ready(ctx context.Context) error {
	applied, err := db.applied(ctx)
	if err != nil {
		return fmt.Errorf("database not readable: %w", err)
	}
	return migration.Verify(db.steps, applied)
}

// ProbeWrite implements app.WriteProber with a real write: a statement that
// changes nothing commits without touching the file, so it would not notice
// a full disk or a file that refuses writes. One small row is rewritten,
// which appends one page to the WAL.
func (db *DB) ProbeWrite(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx, db.q.Probe, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return app.NotWritable(classify(err))
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
	if _, err := db.writer.ExecContext(ctx, db.q.SecretPut, name, fresh); err != nil {
		return nil, fmt.Errorf("secret %s: store: %w", name, classify(err))
	}
	var v []byte
	if err := db.writer.QueryRowContext(ctx, db.q.SecretGet, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("secret %s: read: %w", name, err)
	}
	return v, nil
}

var (
	_ app.TargetSource = (*DB)(nil)
	_ app.LinkStore    = (*DB)(nil)
	_ app.WriteProber  = (*DB)(nil)
)
