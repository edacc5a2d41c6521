package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/obsshort/shortener/app"
)

// inserter coalesces concurrent creates into one INSERT of many rows: a
// durable commit costs the server a WAL flush and the round trip costs
// both sides system calls, whatever the number of rows, so under load a
// few statements of many rows do the work of many single-row ones. There
// is no timer: a batch is whatever queued while the workers were busy, so
// a lone create goes out at once, as a single-row INSERT.
//
// Each caller is answered only after its row is committed (or refused),
// exactly as with one INSERT per create: a taken code is a conflict for
// that caller alone, and a row the server refuses for its data fails only
// that row (the batch is retried row by row).
type inserter struct {
	db      *DB
	reqs    chan *insertReq
	quit    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	maxRows int
}

type insertReq struct {
	ctx  context.Context
	link *app.Link
	res  chan error // buffered, so a worker never waits for a caller gone
}

// errClosed answers creates made after Close.
var errClosed = errors.New("store closed")

// Batch shape. Two workers: one statement commits while the next one
// fills, and one slow statement does not hold every create back. With 32
// clients on the bench's single CPU (PostgreSQL pinned beside the
// service, wrk on the other CPU) one, two and five workers gave 8.2k,
// 6.6k and 4.7k creates/s against 2.3k with one INSERT per create; fewer
// workers make larger batches, and a commit costs the same whatever its
// rows. Each worker holds at most one pooled connection at a time.
const maxBatchRows = 256

func batchWorkers(pool int32) int { return max(1, min(2, int(pool))) }

// newInserter starts the workers; stop them with close.
func newInserter(db *DB, workers, maxRows int) *inserter {
	in := &inserter{db: db, reqs: make(chan *insertReq), quit: make(chan struct{}), maxRows: maxRows}
	in.wg.Add(workers)
	for range workers {
		go in.work()
	}
	return in
}

func (in *inserter) close() {
	in.once.Do(func() { close(in.quit) })
	in.wg.Wait()
}

// insert stores l within ctx; its error is the driver's or the store's
// (ECONFLICT for a taken code), for the caller to classify.
func (in *inserter) insert(ctx context.Context, l *app.Link) error {
	r := &insertReq{ctx: ctx, link: l, res: make(chan error, 1)}
	select {
	case in.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-in.quit:
		return errClosed
	}
	select {
	case err := <-r.res:
		return err
	case <-ctx.Done():
		// The row may still be committed, as when a single INSERT's
		// deadline passes after the server got it: only acknowledged
		// links are promised.
		return ctx.Err()
	}
}

func (in *inserter) work() {
	defer in.wg.Done()
	batch := make([]*insertReq, 0, in.maxRows)
	for {
		select {
		case r := <-in.reqs:
			batch = append(batch[:0], r)
		case <-in.quit:
			return
		}
	fill:
		for len(batch) < in.maxRows {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		in.run(batch)
		clear(batch) // hold no links between batches
	}
}

// run answers every request of batch.
func (in *inserter) run(batch []*insertReq) {
	live := batch[:0:0]
	seen := make(map[string]bool, len(batch))
	for _, r := range batch {
		switch {
		case r.ctx.Err() != nil: // gave up while queued: never sent
			r.res <- r.ctx.Err()
		case seen[r.link.Code]: // the same code twice at once: one wins
			r.res <- app.Errorf(app.ECONFLICT, "code already taken")
		default:
			seen[r.link.Code] = true
			live = append(live, r)
		}
	}
	switch {
	case len(live) == 0:
		return
	case len(live) == 1:
		r := live[0]
		r.res <- in.db.insertOne(r.ctx, r.link)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.db.opt.OpTimeout)
	defer cancel()
	links := make([]*app.Link, len(live))
	for i, r := range live {
		links[i] = r.link
	}
	inserted, err := in.db.insertMany(ctx, links)
	if err != nil && !retryRowByRow(err) {
		for _, r := range live {
			r.res <- err
		}
		return
	}
	for _, r := range live {
		switch {
		case err != nil: // a row the server refused: find it, alone
			r.res <- in.db.insertOne(r.ctx, r.link)
		case inserted[r.link.Code]:
			r.res <- nil
		default:
			r.res <- app.Errorf(app.ECONFLICT, "code already taken")
		}
	}
}

// retryRowByRow: a batch refused for something one row may carry (bad
// data, a constraint) is retried row by row so the others still land; a
// database that is down, slow or full refuses every row alike.
func retryRowByRow(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	return app.ErrorCode(classify(err)) != app.EUNAVAILABLE
}

// insertOne is one create's single-row INSERT.
func (db *DB) insertOne(ctx context.Context, l *app.Link) error {
	var err error
	if l.PasswordHash != "" {
		if db.q.InsertProtected == "" {
			return errOldStatements
		}
		_, err = db.pool.Exec(ctx, db.q.InsertProtected, l.Code, l.URL, ms(l.CreatedAt), msOrNil(l.ExpiresAt), l.PasswordHash)
	} else {
		_, err = db.pool.Exec(ctx, db.q.Insert, l.Code, l.URL, ms(l.CreatedAt), msOrNil(l.ExpiresAt))
	}
	return err
}

// insertMany inserts links in one statement (the import's, which skips
// taken codes) and returns the codes it inserted.
func (db *DB) insertMany(ctx context.Context, links []*app.Link) (map[string]bool, error) {
	rows, err := db.pool.Query(ctx, db.q.ImportInsert, insertArgs(links)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	inserted := make(map[string]bool, len(links))
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		inserted[c] = true
	}
	return inserted, rows.Err()
}

// insertArgs are ImportInsert's arguments for links: one array per column.
func insertArgs(links []*app.Link) []any {
	n := len(links)
	var (
		codes, urls      = make([]string, n), make([]string, n)
		created          = make([]time.Time, n)
		expires, deleted = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		disabled         = make([]pgtype.Timestamptz, n)
		hashes           = make([]pgtype.Text, n)
		visits           = make([]int64, n)
	)
	for i, l := range links {
		codes[i], urls[i], created[i] = l.Code, l.URL, ms(l.CreatedAt)
		expires[i], deleted[i], disabled[i] = tsOrNull(l.ExpiresAt), guardedDeletedAt(l), tsOrNull(l.DisabledAt)
		hashes[i], visits[i] = textOrNull(l.PasswordHash), l.Visits
	}
	return []any{codes, urls, created, expires, deleted, disabled, hashes, visits}
}
