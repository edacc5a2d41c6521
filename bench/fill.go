package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver, as app/sqlite does

	"github.com/obsshort/shortener/app/sqlite"
	"github.com/obsshort/shortener/bench/linkset"
)

// fillDB creates the database at path with the service's own migrations
// (through app/sqlite) and inserts links 0..n-1 of linkset in one
// transaction generated inside SQLite, which writes a million rows in a few
// seconds. Durability does not matter while filling (synchronous OFF); the
// WAL is checkpointed into the main file before the server starts.
func fillDB(ctx context.Context, path string, n int) (time.Duration, error) {
	start := time.Now()
	store, err := sqlite.Open(ctx, path, 1)
	if err != nil {
		return 0, fmt.Errorf("fill %s: %w", path, err)
	}
	if err := store.Close(); err != nil {
		return 0, fmt.Errorf("fill %s: close after migrations: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(OFF)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return 0, fmt.Errorf("fill %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	created := time.Now().UnixMilli()
	// Codes ascend with i, so the WITHOUT ROWID primary key grows at its
	// right edge: no page splits in the middle of the tree.
	stmt := fmt.Sprintf(`WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
INSERT INTO links (code, url, created_at) SELECT %s, %s, ? FROM seq`, linkset.SQLCode, linkset.SQLURL)
	if _, err := db.ExecContext(ctx, stmt, n, created); err != nil {
		return 0, fmt.Errorf("fill %s: insert %d links: %w", path, n, err)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, fmt.Errorf("fill %s: checkpoint: %w", path, err)
	}
	var got int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM links`).Scan(&got); err != nil {
		return 0, fmt.Errorf("fill %s: count: %w", path, err)
	}
	if got != n {
		return 0, fmt.Errorf("fill %s: %d links stored, want %d", path, got, n)
	}
	return time.Since(start), nil
}
