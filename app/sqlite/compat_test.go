package sqlite

import (
	"context"
	"encoding/json"
	"flag"
	"path/filepath"
	"testing"

	"github.com/obsshort/shortener/app"
	"github.com/obsshort/shortener/app/migration"
	"github.com/obsshort/shortener/app/storetest"
)

var updateReleased = flag.Bool("update-released", false, "rewrite testdata/released.json from this build (when a release is promoted)")

// TestReleasedStoreOnExpandedSchema: the previous release's statements and
// steps (testdata/released.json) keep working on the schema after this
// build's expand steps; this build works after its contract steps.
func TestReleasedStoreOnExpandedSchema(t *testing.T) {
	steps, err := Steps()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustOpen := func(t *testing.T, path string, q queries, steps []migration.Step) *DB {
		t.Helper()
		db, err := open(ctx, path, 2, q, steps)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	storetest.RunCompat(t, storetest.Compat{
		Snapshot: filepath.Join("testdata", "released.json"),
		Update:   *updateReleased,
		Steps:    steps,
		Queries:  current,
		Fresh:    func(t *testing.T) string { return filepath.Join(t.TempDir(), "compat.db") },
		OpenPrevious: func(t *testing.T, path string, prevSteps []migration.Step, raw json.RawMessage) app.LinkStore {
			var q queries
			if err := json.Unmarshal(raw, &q); err != nil {
				t.Fatalf("released statements: %v", err)
			}
			return mustOpen(t, path, q, prevSteps)
		},
		OpenCurrent: func(t *testing.T, path string, extra []migration.Step) app.LinkStore {
			return mustOpen(t, path, current, append(append([]migration.Step{}, steps...), extra...))
		},
		Contract: func(t *testing.T, path string) app.LinkStore {
			db := mustOpen(t, path, current, steps)
			if _, err := db.MigrateContract(ctx); err != nil {
				t.Fatalf("contract: %v", err)
			}
			return db
		},
	})
}
