package main

import (
	"context"
	"sync"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/app/sqlite"
)

// database is what the command needs of either store.
type database interface {
	app.LinkStore
	app.WriteProber
	app.ChangeSource
	app.TargetSource
	Secret(ctx context.Context, name string, size int) ([]byte, error)
	MigrateContract(ctx context.Context) ([]string, error)
	Migrations(ctx context.Context) ([]string, error)
	Close() error
}

// storeKind says which store a --db value names and how the service
// runs on it.
type storeKind struct {
	postgres bool
	// system is db.system of the store spans.
	system string
}

func kindOf(db string) storeKind {
	if postgres.IsURL(db) {
		return storeKind{postgres: true, system: "postgresql"}
	}
	return storeKind{system: "sqlite"}
}

// openDatabase opens the store the --db value names and applies its expand
// steps. version names this process to PostgreSQL (application_name), so
// `migrate --contract` can see which releases are connected.
func openDatabase(ctx context.Context, cfg *config, version string) (database, error) {
	if kindOf(cfg.DB).postgres {
		return postgres.Open(ctx, cfg.DB, postgres.Options{
			MaxConns:  int32(cfg.DBPool),
			OpTimeout: cfg.DBTimeout,
			AppName:   appName(version),
		})
	}
	return sqlite.Open(ctx, cfg.DB, cfg.Readers)
}

// appName is this release's application_name on PostgreSQL.
func appName(version string) string { return "shortener " + version }

// dbForLogs is the --db value as logs may show it.
func dbForLogs(db string) string {
	if kindOf(db).postgres {
		return postgres.Redact(db)
	}
	return db
}

// watchOptions are how the redirect cache follows changes made by other
// processes: on PostgreSQL notifications with the counter poll as the
// fallback, and a database that cannot be reached keeps the entries.
func watchOptions(db database, interval time.Duration, onError func(error), onFeed func(bool)) app.WatchOptions {
	o := app.WatchOptions{Interval: interval, OnError: onError}
	if pg, ok := db.(*postgres.DB); ok {
		o.Feed, o.KeepOnError, o.OnFeed = pg, true, onFeed
	}
	return o
}

// firstRead is a change source that closes read once a reading of the
// counter succeeded.
type firstRead struct {
	app.ChangeSource
	once sync.Once
	read chan struct{}
}

func newFirstRead(src app.ChangeSource) *firstRead {
	return &firstRead{ChangeSource: src, read: make(chan struct{})}
}

// ChangeSeq implements app.ChangeSource.
func (f *firstRead) ChangeSeq(ctx context.Context) (int64, error) {
	seq, err := f.ChangeSource.ChangeSeq(ctx)
	if err == nil {
		f.once.Do(func() { close(f.read) })
	}
	return seq, err
}
