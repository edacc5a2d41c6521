package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/postgres"
	"github.com/obsshort/shortener/app/storetest"
	"github.com/obsshort/shortener/internal/pgtest"
)

// MustOpen opens a store on a fresh database of the test server.
func MustOpen(tb testing.TB, opt postgres.Options) (*postgres.DB, string) {
	tb.Helper()
	_, url := pgtest.NewDatabase(tb)
	db, err := postgres.Open(context.Background(), url, opt)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, url
}

// TestStoreContract: the PostgreSQL store passes the LinkStore contract
// that the SQLite store and the in-memory fake pass.
func TestStoreContract(t *testing.T) {
	open := func(t *testing.T) app.LinkStore {
		db, _ := MustOpen(t, postgres.Options{})
		return db
	}
	storetest.Run(t, open)
	t.Run("list targets", func(t *testing.T) { storetest.RunTargets(t, open) })
}

func TestOpenTwiceAppliesStepsOnce(t *testing.T) {
	ctx := context.Background()
	db, url := MustOpen(t, postgres.Options{})
	got, err := db.Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	again, _ := other.Migrations(ctx)
	if len(got) < 3 || len(again) != len(got) {
		t.Fatalf("migrations %v, after a second open %v", got, again)
	}
	if err := other.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	_ = time.Second
}
