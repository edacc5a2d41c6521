package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/internal/pgtest"
)

func openInternal(t *testing.T) *DB {
	t.Helper()
	_, url := pgtest.NewDatabase(t)
	db, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func batchLink(code string) *app.Link {
	return &app.Link{Code: code, URL: "https://example.org/" + code, CreatedAt: time.Now()}
}

// TestInserterBatch runs batches as the workers form them, one case per
// way a row can end, and checks each caller's answer and what is stored.
func TestInserterBatch(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	if err := db.CreateLink(ctx, batchLink("taken")); err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	protected := batchLink("locked")
	protected.PasswordHash = "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA"
	tests := []struct {
		name   string
		ctx    []context.Context // per row; nil: ctx
		links  []*app.Link
		want   []string // per row: "" ok, or the error code
		stored []string // codes that must be stored
		absent []string // codes that must not be
	}{
		{name: "all new", links: []*app.Link{batchLink("a1"), batchLink("a2"), batchLink("a3")},
			want: []string{"", "", ""}, stored: []string{"a1", "a2", "a3"}},
		{name: "a taken code fails alone", links: []*app.Link{batchLink("b1"), batchLink("taken"), batchLink("b2")},
			want: []string{"", app.ECONFLICT, ""}, stored: []string{"b1", "b2"}},
		{name: "the same code twice: the first wins", links: []*app.Link{batchLink("c1"), batchLink("c1"), batchLink("c2")},
			want: []string{"", app.ECONFLICT, ""}, stored: []string{"c1", "c2"}},
		{name: "a row the server refuses fails alone", links: []*app.Link{batchLink("d1"), {Code: "d2", URL: "https://example.org/\x00", CreatedAt: time.Now()}, batchLink("d3")},
			want: []string{"", "error", ""}, stored: []string{"d1", "d3"}, absent: []string{"d2"}},
		{name: "a caller gone before the batch is not inserted", ctx: []context.Context{nil, gone, nil},
			links: []*app.Link{batchLink("e1"), batchLink("e2"), batchLink("e3")},
			want:  []string{"", "canceled", ""}, stored: []string{"e1", "e3"}, absent: []string{"e2"}},
		{name: "a protected link keeps its guard", links: []*app.Link{batchLink("f1"), protected},
			want: []string{"", ""}, stored: []string{"f1", "locked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch := make([]*insertReq, len(tt.links))
			for i, l := range tt.links {
				c := ctx
				if tt.ctx != nil && tt.ctx[i] != nil {
					c = tt.ctx[i]
				}
				batch[i] = &insertReq{ctx: c, link: l, res: make(chan error, 1)}
			}
			db.ins.run(batch)
			for i, r := range batch {
				var err error
				select {
				case err = <-r.res:
				default:
					t.Fatalf("row %d (%s) got no answer", i, r.link.Code)
				}
				if got := outcome(err); got != tt.want[i] {
					t.Errorf("row %d (%s): %v, want %q", i, r.link.Code, err, tt.want[i])
				}
			}
			for _, c := range tt.stored {
				if _, err := db.FindLink(ctx, c); err != nil {
					t.Errorf("%s not stored: %v", c, err)
				}
			}
			for _, c := range tt.absent {
				if _, err := db.FindLink(ctx, c); app.ErrorCode(err) != app.ENOTFOUND {
					t.Errorf("%s: %v, want not found", c, err)
				}
			}
		})
	}
	// The previous release must not redirect a protected link: the batch
	// stores it with the same guard as the single-row INSERT.
	var guarded bool
	if err := db.pool.QueryRow(ctx, `SELECT deleted_at = 'epoch' AND password_hash <> '' FROM links WHERE code = 'locked'`).Scan(&guarded); err != nil || !guarded {
		t.Errorf("protected link stored without its guard (%v, %v)", guarded, err)
	}
}

func outcome(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case app.ErrorCode(err) == app.ECONFLICT:
		return app.ECONFLICT
	}
	return "error"
}

// TestConcurrentCreates: many callers at once, through the workers. Every
// distinct code is created once and acknowledged; of callers racing for
// one alias exactly one wins.
func TestConcurrentCreates(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	errs := make([]error, n)
	race := make([]error, 40)
	for i := range n {
		wg.Go(func() { errs[i] = db.CreateLink(ctx, batchLink(fmt.Sprintf("k%03d", i))) })
	}
	for i := range race {
		wg.Go(func() { race[i] = db.CreateLink(ctx, batchLink("alias")) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("create k%03d: %v", i, err)
		}
	}
	won := 0
	for _, err := range race {
		switch app.ErrorCode(err) {
		case "":
			won++
		case app.ECONFLICT:
		default:
			t.Errorf("racing create: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d racing creates of one alias won, want 1", won, len(race))
	}
	var stored int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM links`).Scan(&stored); err != nil || stored != n+1 {
		t.Errorf("%d links stored (%v), want %d", stored, err, n+1)
	}
}

// TestCreateAfterClose answers at once, never hangs.
func TestCreateAfterClose(t *testing.T) {
	_, url := pgtest.NewDatabase(t)
	db, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.CreateLink(ctx, batchLink("late")); err == nil || ctx.Err() != nil {
		t.Fatalf("create after close: %v (context %v), want an error at once", err, ctx.Err())
	}
}
