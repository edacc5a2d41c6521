// Package postgres implements app.LinkStore on PostgreSQL through a pgx
// connection pool, for many replicas of the shortener sharing one database.
//
// Every call is bounded by Options.OpTimeout, including the wait for a free
// pooled connection, so an exhausted pool queues callers and then answers
// "unavailable" rather than hanging. Connection failures are classified as
// app.EUNAVAILABLE (the HTTP layer answers 503) and the pool reconnects by
// itself once the server is back.
//
// The password never comes from the --db URL (a URL holding one is
// refused): pgx reads PGPASSWORD or PGPASSFILE, as libpq does.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/obsshort/shortener/app/migration"
)

//go:embed migrations
var migrationFS embed.FS

// queries are every statement the store runs. They are data so that the
// compatibility test can run the previous release's statements (kept in
// testdata/released.json) against the schema after this release's expand
// steps.
type queries struct {
	Bootstrap string `json:"bootstrap"`
	Applied   string `json:"applied"`
	Record    string `json:"record"`
	// Find reads the six columns of the first releases; FindLink, when
	// set, reads every column and is used instead (a previous release's
	// snapshot has only Find). Likewise AddVisitsDaily replaces AddVisits,
	// and each statement added with expand step 0004 is empty in an
	// earlier snapshot: the store then does what that release did.
	Find      string `json:"find,omitempty"`
	FindLink  string `json:"find_link,omitempty"`
	Insert    string `json:"insert"`
	Delete    string `json:"delete"`
	AddVisits string `json:"add_visits,omitempty"` // one statement per flush: two arrays, codes and counts
	ChangeSeq string `json:"change_seq"`
	Listen    string `json:"listen"`
	Targets   string `json:"list_targets"` // live links in code order, to fill the redirect cache
	Probe     string `json:"write_probe"`
	SecretPut string `json:"secret_put"`
	SecretGet string `json:"secret_get"`

	// Added with expand step 0004 (link controls and daily visits).
	InsertProtected string `json:"insert_protected,omitempty"`
	AddVisitsDaily  string `json:"add_visits_daily,omitempty"` // codes, counts, day
	Scan            string `json:"scan,omitempty"`
	LockLink        string `json:"lock_link,omitempty"`
	Update          string `json:"update,omitempty"`
	ImportInsert    string `json:"import_insert,omitempty"`
	ImportExisting  string `json:"import_existing,omitempty"`
	DailyVisits     string `json:"daily_visits,omitempty"`
	PruneVisits     string `json:"prune_visits,omitempty"`
}

// linkColumns are what FindLink, Scan and LockLink read, in scanLink's
// order. A guarded link's deleted_at of 'epoch' reads as not deleted
// (expand step 0004).
const linkColumns = `code, url, created_at, expires_at, NULLIF(deleted_at, 'epoch'), visits, disabled_at, password_hash`

var current = queries{
	Bootstrap: `CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, kind text NOT NULL DEFAULT 'expand', applied_at timestamptz NOT NULL DEFAULT now())`,
	Applied:   `SELECT version, kind FROM schema_migrations`,
	Record:    `INSERT INTO schema_migrations (version, kind) VALUES ($1, $2)`,
	FindLink:  `SELECT ` + linkColumns + ` FROM links WHERE code = $1`,
	Insert:    `INSERT INTO links (code, url, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
	Delete:    `UPDATE links SET deleted_at = $1 WHERE code = $2 AND (deleted_at IS NULL OR deleted_at = 'epoch')`,
	ChangeSeq: `SELECT seq FROM link_changes WHERE id = 1`,
	Listen:    `LISTEN shortener_link_changes`,
	// Live links only: not deleted (a guard's epoch is not a delete),
	// not disabled, not expired; whether a password exists, never its hash.
	Targets: `SELECT code, url, expires_at, coalesce(password_hash, '') <> '' FROM links
		WHERE code > $1 AND (deleted_at IS NULL OR deleted_at = 'epoch') AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY code LIMIT $3`,
	Probe:     `INSERT INTO settings (name, value) VALUES ('write_probe', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
	SecretPut: `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
	SecretGet: `SELECT value FROM settings WHERE name = $1`,

	InsertProtected: `INSERT INTO links (code, url, created_at, expires_at, password_hash, deleted_at) VALUES ($1, $2, $3, $4, $5, 'epoch')`,
	// One statement: the links' totals and their day's counts move
	// together. Daily rows are locked only after the link rows, which
	// the UPDATE locks in code order, so replicas flushing at once still
	// cannot deadlock.
	AddVisitsDaily: `WITH counted AS (
		UPDATE links SET visits = links.visits + v.n FROM unnest($1::text[], $2::bigint[]) AS v(code, n)
		WHERE links.code = v.code RETURNING links.code, v.n)
	INSERT INTO link_visits_daily (code, day, visits) SELECT code, $3::date, n FROM counted
	ON CONFLICT (code, day) DO UPDATE SET visits = link_visits_daily.visits + excluded.visits`,
	Scan: `SELECT ` + linkColumns + ` FROM links
		WHERE (created_at, code) < ($1, $2) AND created_at >= $3 AND created_at < $4
		ORDER BY created_at DESC, code DESC LIMIT $5`,
	LockLink: `SELECT ` + linkColumns + ` FROM links WHERE code = $1 FOR UPDATE`,
	Update:   `UPDATE links SET url = $1, expires_at = $2, disabled_at = $3, password_hash = $4, deleted_at = $5 WHERE code = $6`,
	ImportInsert: `INSERT INTO links (code, url, created_at, expires_at, deleted_at, disabled_at, password_hash, visits)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::bigint[])
		ON CONFLICT (code) DO NOTHING RETURNING code`,
	ImportExisting: `SELECT code, url FROM links WHERE code = ANY($1::text[])`,
	DailyVisits:    `SELECT day, visits FROM link_visits_daily WHERE code = $1 AND day >= $2::date AND day < $3::date ORDER BY day`,
	PruneVisits: `DELETE FROM link_visits_daily WHERE ctid IN
		(SELECT ctid FROM link_visits_daily WHERE day < $1::date LIMIT $2)`,
}

// migrateLock is the advisory lock key that serialises migrations of
// replicas starting together ("shrt" in ASCII).
const migrateLock = 0x73687274

// Options tune the pool; zero values take the defaults.
type Options struct {
	// MaxConns is the pool size (default 10).
	MaxConns int32
	// OpTimeout bounds every call, the wait for a free connection included
	// (default 5 s).
	OpTimeout time.Duration
	// AppName is the application_name the server shows for this
	// process's connections (pg_stat_activity), e.g. "shortener v2".
	AppName string
}

// DB is an open pool on one database.
type DB struct {
	pool  *pgxpool.Pool
	q     queries
	steps []migration.Step
	opt   Options
	// now is the clock of the per-day visit counts (SetClock).
	now func() time.Time
	// ins batches creates; nil with a snapshot of statements that has
	// no multi-row insert (each create is then its own INSERT).
	ins *inserter
}

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://) rather than a SQLite file.
func IsURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// CheckURL refuses a URL that is not a PostgreSQL URL or that holds a
// password: command lines are visible to every user of the machine (ps),
// and URLs get logged. The password belongs in PGPASSWORD or a PGPASSFILE.
// The error never repeats the password.
func CheckURL(raw string) error {
	if !IsURL(raw) {
		return errors.New("not a postgres:// or postgresql:// URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a valid URL (%v)", Redact(raw))
	}
	if _, set := u.User.Password(); set || u.Query().Has("password") {
		return errors.New("the URL holds a password; remove it and set PGPASSWORD (or point PGPASSFILE at a password file) in the environment instead")
	}
	return nil
}

// Redact returns raw with any password replaced by "xxxxx", for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, set := u.User.Password(); set {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Steps returns the migrations embedded in this build, in order.
func Steps() ([]migration.Step, error) { return migration.Load(migrationFS, "migrations") }

// Open connects to the database at rawURL, applies the expand steps not
// yet applied (serialised across replicas by an advisory lock) and returns
// the store. Contract steps run only through MigrateContract.
func Open(ctx context.Context, rawURL string, opt Options) (*DB, error) {
	steps, err := Steps()
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return open(ctx, rawURL, opt, current, steps)
}

func open(ctx context.Context, rawURL string, opt Options, q queries, steps []migration.Step) (*DB, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, fmt.Errorf("open store %s: %w", Redact(rawURL), err)
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 10
	}
	if opt.OpTimeout <= 0 {
		opt.OpTimeout = 5 * time.Second
	}
	if opt.AppName == "" {
		opt.AppName = "shortener"
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", Redact(rawURL), err)
	}
	cfg.MaxConns = opt.MaxConns
	cfg.HealthCheckPeriod = 5 * time.Second
	// A new connection is made in the background of the request that asked
	// for it (pgxpool keeps constructing after that request's deadline), so
	// its timeout need not be the request's: one as short as a 1 s
	// --db-timeout never let a fresh backend start on a loaded host after a
	// database restart, and the pool stayed empty.
	// connect_timeout in the URL, when given, wins.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = max(opt.OpTimeout, 5*time.Second)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = opt.AppName
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", Redact(rawURL), err)
	}
	db := &DB{pool: pool, q: q, steps: steps, opt: opt, now: time.Now}
	if _, err := db.migrate(ctx, false); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", Redact(rawURL), err)
	}
	if q.ImportInsert != "" {
		db.ins = newInserter(db, batchWorkers(opt.MaxConns), maxBatchRows)
	}
	return db, nil
}

// Close stops the batching of creates and closes the pool.
func (db *DB) Close() error {
	if db.ins != nil {
		db.ins.close()
	}
	db.pool.Close()
	return nil
}

// MigrateContract applies the contract steps not yet applied (and any
// expand step still missing) and returns the versions it applied. Run it
// only once no replica of the previous release uses the database
// (OtherClients lists them).
func (db *DB) MigrateContract(ctx context.Context) ([]string, error) {
	return db.migrate(ctx, true)
}

// migrate applies pending steps, each in its own transaction, holding an
// advisory lock so that replicas starting together apply each step once.
func (db *DB) migrate(ctx context.Context, contract bool) ([]string, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", classify(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", classify(err))
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)
	if _, err := conn.Exec(ctx, db.q.Bootstrap); err != nil {
		return nil, fmt.Errorf("create migrations table: %w", classify(err))
	}
	applied, err := db.appliedOn(ctx, conn)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, s := range db.steps {
		if _, ok := applied[s.Version]; ok || (s.Kind == migration.Contract && !contract) {
			continue
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return done, fmt.Errorf("migration %s: begin: %w", s.Version, classify(err))
		}
		if _, err := tx.Exec(ctx, s.SQL); err != nil {
			tx.Rollback(ctx)
			return done, fmt.Errorf("migration %s (%s): apply: %w", s.Version, s.Kind, err)
		}
		if _, err := tx.Exec(ctx, db.q.Record, s.Version, string(s.Kind)); err != nil {
			tx.Rollback(ctx)
			return done, fmt.Errorf("migration %s: record: %w", s.Version, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return done, fmt.Errorf("migration %s: commit: %w", s.Version, classify(err))
		}
		done = append(done, s.Version)
	}
	return done, nil
}

// appliedOn reads the recorded steps on conn.
func (db *DB) appliedOn(ctx context.Context, conn *pgxpool.Conn) (map[string]migration.Kind, error) {
	rows, err := conn.Query(ctx, db.q.Applied)
	if err != nil {
		return nil, fmt.Errorf("list applied migrations: %w", classify(err))
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list applied migrations: %w", classify(err))
	}
	return out, nil
}

// Migrations returns the versions recorded as applied, in order.
func (db *DB) Migrations(ctx context.Context) ([]string, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("list applied migrations: %w", classify(err))
	}
	defer conn.Release()
	applied, err := db.appliedOn(ctx, conn)
	if err != nil {
		return nil, err
	}
	return migration.Versions(applied), nil
}

// OtherClients returns the application_name of every other client
// connected to this database whose name starts with prefix (replicas set
// "shortener <version>"), so `migrate --contract` can refuse while a
// replica of another release still runs.
func (db *DB) OtherClients(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT application_name FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND starts_with(application_name, $1)
		ORDER BY 1`, prefix)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", classify(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
