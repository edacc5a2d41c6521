package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/obsshort/shortener/app"
)

// ListenSuffix ends the application_name of the connection that listens for
// link changes ("shortener v2 listen"), so an operator (and the tests) can
// tell it from the pool's connections in pg_stat_activity.
const ListenSuffix = " listen"

// ListenChanges implements app.ChangeFeed. It opens its own connection
// (not one of the pool's: it is held for as long as it listens), LISTENs on
// the channel the triggers of expand step 0003 notify, calls listening,
// then calls changed for every committed change until ctx ends or the
// connection fails, and returns why it stopped.
func (db *DB) ListenChanges(ctx context.Context, listening func(), changed func(seq int64, code string)) error {
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = db.opt.AppName + ListenSuffix
	cctx, cancel := context.WithTimeout(ctx, db.opt.OpTimeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err == nil {
		_, err = conn.Exec(cctx, db.q.Listen)
	}
	cancel()
	if err != nil {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
		return fmt.Errorf("listen for link changes: %w", classify(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("listen for link changes: %w", classify(err))
		}
		seq, code, ok := parsePayload(n.Payload)
		if !ok {
			// Not ours to understand (a newer release's format?): the
			// counter poll decides; say "unknown number" so the cache
			// treats it as a gap.
			changed(0, "")
			continue
		}
		changed(seq, code)
	}
}

// parsePayload reads "<seq> <code>".
func parsePayload(p string) (int64, string, bool) {
	s, code, ok := strings.Cut(p, " ")
	if !ok || code == "" {
		return 0, "", false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq <= 0 {
		return 0, "", false
	}
	return seq, code, true
}

var _ app.ChangeFeed = (*DB)(nil)
